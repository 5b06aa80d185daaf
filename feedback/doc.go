// Package feedback owns situ's Kafka plumbing: the embedded broker for
// development, the topics and their partitioner, the decision producer that
// never blocks the request path, the idempotent outcome producer behind
// POST /v1/outcomes, the learning loop that joins nba.decisions with
// nba.outcomes, checkpoints to nba.learner.checkpoints and publishes the
// served model to nba.models, and the tail reader with which API replicas
// follow nba.models.
//
// Readers do not use consumer groups: the learner reads every partition
// from the offsets stored in its last checkpoint and dead-letters
// the outcomes it cannot use; replicas read the compacted topics from their
// start. Every producer uses [Partitioner], which places a key on the same
// partition as librdkafka's default partitioner (kcat, confluent-kafka-*
// clients), so decisions and outcomes with the same decision_id land on the
// same partition number whatever client produced them.
package feedback
