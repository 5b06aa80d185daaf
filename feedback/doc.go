// Package feedback owns situ's Kafka plumbing:
//
//   - the embedded Kafka-compatible broker for development
//     (StartEmbeddedBroker), with its data dir and compaction;
//   - the topics (TopicsConfig, EnsureTopics: nba.decisions, nba.outcomes,
//     nba.outcomes.dlq, nba.models, nba.learner.checkpoints, nba.control,
//     nba.experiments.results)
//     and the partitioner;
//   - the producers: the decision publisher that never blocks the request
//     path (DecisionPublisher, fed by RecordingDecider around the scoring
//     engine) and the idempotent outcome producer behind POST /v1/outcomes
//     (OutcomePublisher, with its bounded DedupCache);
//   - the learning loop (LearningLoop): it reads nba.decisions and
//     nba.outcomes, joins with models' CompactJoiner (it keeps a pending
//     decision's id hash and position and reads the decision again when
//     matched) and learns with OnlineLearner,
//     dead-letters the outcomes it cannot use, writes its checkpoints
//     (Checkpoint) to nba.learner.checkpoints and publishes the served model
//     to nba.models;
//   - the experiments' results: ResultsLoop rebuilds them from
//     nba.decisions and nba.outcomes with experiments' Aggregator,
//     publishes them to nba.experiments.results and stops experiments
//     whose guardrails are breached (GuardrailStop); ResultsBoard serves
//     them on every API replica;
//   - the followers: TailReader for compacted topics, ModelFollower with
//     which API replicas swap in every newer model from nba.models, and
//     ReadLatest, with which a learner restores its checkpoint;
//   - the data team's configuration on nba.control: ControlLog, every
//     process's copy of it (replayed from the start, then followed, applied
//     through named ConfigAppliers), and ControlPlane, the admin API's
//     api.ControlPlane, which writes changes there and answers once it has
//     read them back — the log is the truth;
//   - the situ_kafka_* reader and writer metrics every component shares.
//
// Readers do not use consumer groups: the learner reads every partition
// from the offsets stored in its last checkpoint; replicas read the
// compacted topics from their start. Every producer uses [Partitioner],
// which places a key on the same partition as librdkafka's default
// partitioner (kcat, confluent-kafka-* clients), so decisions and outcomes
// with the same decision_id land on the same partition number whatever
// client produced them.
package feedback
