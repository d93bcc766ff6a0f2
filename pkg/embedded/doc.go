// Package embedded starts real infrastructure in-process — NATS with
// JetStream, FerretDB on SQLite (a MongoDB wire-protocol server) and
// versitygw (an S3 server) — so `make run` and integration tests need no
// Docker.
//
// Every Start function turns its directory argument into an absolute path
// before anything else, because StartS3 changes the process working
// directory (see StartS3).
package embedded
