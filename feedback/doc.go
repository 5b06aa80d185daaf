// Package feedback owns situ's Kafka plumbing: the embedded broker for
// development, the topics and their partitioner, the decision producer that
// never blocks the request path, the outcome producer behind
// POST /v1/outcomes, and the partition-assigned readers the learner and the
// API replicas consume nba.decisions, nba.outcomes, nba.models and
// nba.control with.
//
// Readers do not use consumer groups: the learner resumes from the offsets
// stored inside its model snapshot, so every reader takes an explicit start
// offset per partition and reports the position of every message it
// processes. Every producer uses [Partitioner], which places a key on the
// same partition as librdkafka's default partitioner (kcat, confluent-kafka-*
// clients), so decisions and outcomes with the same decision_id land on the
// same partition number whatever client produced them.
package feedback
