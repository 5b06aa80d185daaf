package api

import (
	"context"

	"situ/control"
	"situ/features"
)

// ControlPlane is what the admin API needs of the data team's
// configuration (feedback.ControlPlane implements it over nba.control).
// Errors: *features.FieldError for an invalid change (400),
// *control.StaleError for a stale base version (409),
// *control.UnknownVersionError for a version that does not exist (404);
// anything else means the change could not be made durable now (503).
type ControlPlane interface {
	// Current returns the version in effect and its configuration.
	Current() (version int64, cfg control.Config)
	// Weights returns the weights table of the served model (learned,
	// override, pinned, effective) for the treatments in only (all when 0),
	// with the model and configuration versions it was built from.
	Weights(only features.TreatmentSet) (WeightsTable, error)
	// Submit validates a change against the current configuration and,
	// unless it is a dry run, makes it the next version: it returns once
	// the record is durable on nba.control and applied by this process.
	Submit(ctx context.Context, req ChangeRequest) (ChangeResult, error)
	// Rollback makes a new version whose configuration equals version to's.
	Rollback(ctx context.Context, req RollbackRequest) (control.Record, error)
	// Records returns the history, newest first.
	Records() []control.Record
	// Record returns one version's record.
	Record(version int64) (control.Record, error)
	// Diff returns what differs between two versions' configurations.
	Diff(from, to int64) ([]control.Difference, error)
}

// WeightsTable is the answer of GET /v1/admin/weights.
type WeightsTable struct {
	ModelVersion  int64               `json:"model_version"`
	ConfigVersion int64               `json:"config_version"`
	Weights       []control.WeightRow `json:"weights"`
}

// ChangeRequest is the body of POST /v1/admin/changes.
type ChangeRequest struct {
	Author string `json:"author"`
	Reason string `json:"reason"`
	// BaseVersion, when given, is the version the change was made on: on
	// any other it is refused (409).
	BaseVersion *int64         `json:"base_version,omitzero"`
	DryRun      bool           `json:"dry_run,omitzero"`
	Change      control.Change `json:"change"`
	// Principal is the name of the token that asked (for the audit log);
	// the handler sets it, a body cannot.
	Principal string `json:"-"`
}

// ChangeResult is what a change did (or, in a dry run, would do).
type ChangeResult struct {
	// Record is the accepted change; in a dry run, what it would be.
	Record control.Record `json:"record"`
	// Diff lists what differs between before and after.
	Diff   []control.Difference `json:"diff"`
	DryRun bool                 `json:"dry_run"`
}

// RollbackRequest is the body of POST /v1/admin/rollback.
type RollbackRequest struct {
	ToVersion   int64  `json:"to_version"`
	Author      string `json:"author"`
	Reason      string `json:"reason"`
	BaseVersion *int64 `json:"base_version,omitzero"`
	// Principal is the name of the token that asked (for the audit log);
	// the handler sets it, a body cannot.
	Principal string `json:"-"`
}
