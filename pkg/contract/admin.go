package contract

import "time"

// AdminAudited records one call to the admin API before it runs: who, what
// and when. It stays in the EVENTS stream, so the audit trail is as durable
// as the events themselves.
type AdminAudited struct {
	Admin     string    `json:"admin" bson:"admin"`
	Method    string    `json:"method" bson:"method"`
	Path      string    `json:"path" bson:"path"`
	Route     string    `json:"route" bson:"route"`
	ClientIP  string    `json:"client_ip" bson:"client_ip"`
	UserAgent string    `json:"user_agent,omitempty" bson:"user_agent,omitempty"`
	At        time.Time `json:"at" bson:"at"`
	// Action names what a console action or sign-in was ("approve",
	// "sign-in failed", …) and UserID the user it was about, for the
	// console's audit filters; the API's calls leave them empty.
	Action string `json:"action,omitempty" bson:"action,omitempty"`
	UserID int64  `json:"user_id,omitempty" bson:"user_id,omitempty"`
}
