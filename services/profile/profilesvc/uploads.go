package profilesvc

// maxUpload bounds what is read from the uploads store (pkg/uploads)
// whatever the gateway let through.
const maxUpload = 32 << 20
