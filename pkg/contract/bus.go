package contract

import (
	"slices"
	"strings"
)

// The bus's users: every process joins NATS as one of these, and the
// server lets it publish and subscribe only what its entry here allows
// (pkg/embedded builds the server's users from this table; deploy/nats and
// the Helm values carry the same, and deploy/check holds them to it).
//
// Adding an endpoint to a service needs no change here: a service serves
// "<name>.v1.>" and the gateway may call every service's commands. Adding a
// call from one service to another, an event type, a stream or a reader of
// events (subjects.go's readers, and the reader in Durables) does: the
// server refuses the publish, and natsx logs the refused subject.

// BusGateway is the gateway's bus user (it serves no commands).
const BusGateway = "gateway"

// BusOps is the operators' bus user (`nats micro stats`, the fault test):
// it may only ask the services' micro discovery and statistics, never call
// a command, read an event or touch a stream. It vouches for no one.
const BusOps = "ops"

// HeaderAssertion carries the caller's identity, signed by the process
// that vouches for it (natsx): Doss-User-Id and Doss-Admin alone are never
// believed.
const HeaderAssertion = "Doss-Assertion"

// BusUser is what one process may do on the bus.
type BusUser struct {
	Name string
	// Serves: this user answers "<Name>.v1.>" (and $SRV discovery).
	Serves bool
	// Calls are the commands it may request: exact subjects, or
	// "<service>.v1.>" for all of a service's.
	Calls []string
	// Observes are the micro discovery and statistics subjects it may ask
	// ($SRV.*): what an operator's tools read, not a call for anyone.
	Observes []string
	// Emits are the event subjects it publishes ("events.auth.>").
	Emits []string
	// Hears are the event subjects it subscribes to without JetStream.
	Hears []string
	// Streams are the JetStream streams it reads and consumes: the
	// events, a KV bucket ("KV_" + name) or an object store ("OBJ_" +
	// name).
	Streams []string
	// Creates are the streams of Streams it creates when missing; each
	// stream has one creator. The server does not hold a new stream's
	// subjects to its creator's rights either, so any user who may create
	// one could, before the creator's first start, make it capture what it
	// likes (the events stream every login's PIN on auth.v1.>). The others
	// wait for it (events.EnsureStreams, uploads.Store).
	Creates []string
	// Configures are the streams whose configuration it may change. The
	// server does not hold a stream's subjects to its updater's rights, so
	// whoever may update a stream may have it capture any subject (every
	// login's PIN on auth.v1.>): only auth, and only its own bucket.
	Configures []string
	// KV and Objects are the buckets whose keys or objects it writes.
	KV, Objects []string
	// DeadLetters: it consumes events and may park the ones it gives up on.
	DeadLetters bool
	// Durables are its readers of the events stream, by name: their
	// consumers (ReaderEvents, ConsumerName) are the only ones it may
	// create, read, pull from or ack, each with its one filter. Rights on
	// the whole stream's consumers let the notifier pull and ack profile's
	// deletion requests (profile never saw them), point its filter at
	// nothing, or delete it.
	Durables []string
}

func commands(service string) string { return service + ".v1.>" }

var (
	eventStreams = []string{StreamEvents, StreamDeadLetters}
	authStreams  = append([]string{"KV_" + BucketRevokedSessions}, eventStreams...)
)

// BusUsers is every bus user and its rights.
var BusUsers = []BusUser{
	{
		Name:  BusGateway,
		Calls: []string{commands(ServiceAuth), commands(ServiceProfile), commands(ServiceDocuments), commands(ServiceNotifier)},
		Emits: []string{EventSubject(EventAdminAudited)},
		// What its caches follow (userCache.watch).
		Hears: []string{EventSubject(EventProfileUpdated), EventSubject(EventDocumentAdded), EventSubject(EventDocumentDeleted),
			EventSubject(EventDocumentReviewed), EventSubject(EventDocumentsAccountErased)},
		// It reads the revocations, never writes them, and creates no
		// stream: auth makes the bucket, each service its uploads'.
		Streams: []string{"KV_" + BucketRevokedSessions, ObjectStream(BucketProfileUploads), ObjectStream(BucketDocumentsUploads)},
		Objects: []string{BucketProfileUploads, BucketDocumentsUploads},
	},
	{
		// Auth calls no service: profile calls auth, and what auth needs
		// of profile (the names a login answers with) comes by events.
		Name: ServiceAuth, Serves: true,
		Emits:   []string{"events.auth.>", EventSubject(EventNotificationWanted)},
		Streams: authStreams,
		// Auth makes every stream it uses: the others wait for its first
		// start.
		Creates:    authStreams,
		Configures: []string{"KV_" + BucketRevokedSessions}, // its TTL follows the token lifetime
		KV:         []string{BucketRevokedSessions},
		// It keeps the audit trail from admin.audited (the console's),
		// the names from profile.names_changed, and runs the erasure
		// saga's reports: durable consumers.
		DeadLetters: true,
		Durables:    []string{DurableAuthAudit, DurableAuthDeletions, DurableAuthNames},
	},
	{
		Name: ServiceProfile, Serves: true,
		Calls:       []string{AuthAccountGet, AuthChangeEmail, AuthChangePhone, AuthVerifyContact, AuthTwoFAStart, AuthTwoFAVerify},
		Emits:       []string{"events.profile.>", EventSubject(EventWalletPosted), EventSubject(EventOrderPosted)},
		Streams:     append([]string{ObjectStream(BucketProfileUploads)}, eventStreams...),
		Creates:     []string{ObjectStream(BucketProfileUploads)},
		Objects:     []string{BucketProfileUploads},
		DeadLetters: true,
		Durables: []string{DurableProfileAccounts, DurableProfileDocuments, DurableProfileObjects, DurableProfileErasure,
			DurableProfileDeletions, DurableProfilePostings},
	},
	{
		Name: ServiceDocuments, Serves: true,
		Calls:       []string{ProfileApplyDocuments, AuthAccountGet},
		Emits:       []string{"events.documents.>", EventSubject(EventNotificationWanted)},
		Streams:     append([]string{ObjectStream(BucketDocumentsUploads)}, eventStreams...),
		Creates:     []string{ObjectStream(BucketDocumentsUploads)},
		Objects:     []string{BucketDocumentsUploads},
		DeadLetters: true,
		Durables:    []string{DurableDocumentsObjects, DurableDocumentsErasure},
	},
	{
		Name: ServiceNotifier, Serves: true,
		Emits:       []string{EventSubject(EventNotifierAccountErased)},
		Streams:     eventStreams,
		DeadLetters: true,
		Durables:    []string{DurableNotifier, DurableNotifierErasure},
	}, {
		Name:     BusOps,
		Observes: []string{"$SRV.PING", "$SRV.PING.>", "$SRV.INFO", "$SRV.INFO.>", "$SRV.STATS", "$SRV.STATS.>"},
	},
}

// BusUserFor returns the named bus user.
func BusUserFor(name string) (BusUser, bool) {
	for _, u := range BusUsers {
		if u.Name == name {
			return u, true
		}
	}
	return BusUser{}, false
}

// InboxPrefix is where a bus user's replies arrive: a user subscribes to
// its own inbox only, so it cannot read the replies meant for another.
func InboxPrefix(user string) string { return InboxRoot + "_" + user }

// InboxRoot begins every inbox, a bus user's own and the client's default
// ("_INBOX."): a command's reply subject always does, a JetStream
// delivery's never ($JS.ACK…).
const InboxRoot = "_INBOX"

// ReplyMessages is how many messages a service may send to the reply
// subject of a request it received (the server's allow_responses): the
// receipt that tells the caller the request arrived, then the answer.
const ReplyMessages = 2

// Permissions are the subjects u may publish and subscribe to, in NATS
// wildcard syntax. Replies to requests it received are allowed apart
// (the server's allow_responses), so no service may publish to inboxes.
func (u BusUser) Permissions() (publish, subscribe []string) {
	publish = append(publish, u.Calls...)
	publish = append(publish, u.Observes...)
	publish = append(publish, u.Emits...)
	subscribe = append(subscribe, InboxPrefix(u.Name)+".>")
	subscribe = append(subscribe, u.Hears...)
	if u.Serves {
		subscribe = append(subscribe, commands(u.Name), "$SRV.*", "$SRV.*."+u.Name, "$SRV.*."+u.Name+".>")
	}
	if len(u.Streams) > 0 {
		publish = append(publish, "$JS.API.INFO")
	}
	for _, s := range u.Streams {
		publish = append(publish, "$JS.API.STREAM.INFO."+s)
		if slices.Contains(u.Creates, s) {
			publish = append(publish, "$JS.API.STREAM.CREATE."+s)
		}
		switch s {
		case StreamEvents:
			publish = append(publish, eventsAPI(u.Durables)...)
		case StreamDeadLetters:
		default:
			publish = append(publish, streamAPI(s)...)
		}
	}
	for _, s := range u.Configures {
		publish = append(publish, "$JS.API.STREAM.UPDATE."+s)
	}
	for _, b := range u.KV {
		publish = append(publish, "$KV."+b+".>")
	}
	for _, b := range u.Objects {
		publish = append(publish, "$O."+b+".>", "$JS.API.STREAM.PURGE."+ObjectStream(b))
	}
	if u.DeadLetters {
		publish = append(publish, StreamDeadLetterSubject)
	}
	return publish, subscribe
}

// eventsAPI is the events stream's API for a user whose consumers are
// durables, besides describing the stream (and creating it, for its
// creator): for each of
// its consumers (ConsumerName) the create through the subject that names
// the consumer's one filter, its description, pulls, acks and flow control.
// The server refuses a create whose filter differs from that subject's, or
// that adds filter_subjects beside it, so a user cannot widen what its own
// consumers read to every event. Not the unfiltered create, not delete
// (re-created with a wider filter), not the stream's messages by sequence
// (MSG.GET, DIRECT.GET: every event, whoever it was for), nor anyone
// else's consumers.
func eventsAPI(durables []string) []string {
	var out []string
	for _, d := range durables {
		for _, t := range readers[d] {
			c := StreamEvents + "." + ConsumerName(d, t)
			out = append(out, "$JS.API.CONSUMER.CREATE."+c+"."+EventSubject(t),
				"$JS.API.CONSUMER.INFO."+c, "$JS.API.CONSUMER.MSG.NEXT."+c, "$JS.ACK."+c+".>", "$JS.FC."+c+".>")
		}
	}
	return out
}

// streamAPI is the JetStream API of one stream a user reads, besides
// describing it (and creating it, for its creator): its messages, create,
// read and consume its consumers, ack and flow control. Never updating or
// deleting a stream (see Configures), nor any other stream's API. The dead
// letters get none of it: a user only parks messages there, and an
// operator reads them.
func streamAPI(stream string) []string {
	var out []string
	for _, p := range []string{
		"$JS.API.STREAM.MSG.GET.%", "$JS.API.DIRECT.GET.%", "$JS.API.DIRECT.GET.%.>",
		"$JS.API.CONSUMER.CREATE.%", "$JS.API.CONSUMER.CREATE.%.>", "$JS.API.CONSUMER.DURABLE.CREATE.%.>",
		"$JS.API.CONSUMER.INFO.%.>", "$JS.API.CONSUMER.MSG.NEXT.%.>", "$JS.API.CONSUMER.DELETE.%.>",
		"$JS.ACK.%.>", "$JS.FC.%.>",
	} {
		out = append(out, strings.ReplaceAll(p, "%", stream))
	}
	return out
}
