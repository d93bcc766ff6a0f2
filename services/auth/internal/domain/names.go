package domain

// Names are a user's first and last name as profile, which owns them,
// last announced them (profile.names_changed). Version orders the
// announcements: the higher is the newer.
type Names struct {
	FirstName string `bson:"first_name"`
	LastName  string `bson:"last_name"`
	Version   int64  `bson:"version"`
}
