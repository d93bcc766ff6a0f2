// Command doss-admin creates and manages the console's staff accounts
// against auth's store (DOSS_MONGO_URI, DOSS_OTP_SECRET, DOSS_PIN_PEPPER as
// auth reads them): make admin ARGS="create NAME --role reviewer".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/dossapp/backend/services/auth/authsvc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := authsvc.Admin(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "doss-admin:", err)
		os.Exit(1)
	}
}
