module github.com/dossapp/backend/services/notifier

go 1.26.0

replace github.com/dossapp/backend/pkg => ../../pkg

replace github.com/dossapp/backend/pkg/embedded => ../../pkg/embedded
