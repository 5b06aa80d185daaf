// Package deploy holds situ's deployment files: the container image
// (Dockerfile and the probe command its health check runs), a compose file
// with a Kafka-compatible broker, one learner and two API replicas,
// Kubernetes manifests (kubernetes/, applied with kustomize) and a Grafana
// dashboard (grafana/). docs/deploy.md explains how to use them.
//
// The package has no code of its own. Its tests keep the files true to
// the code: every flag and SITU_* variable they set is a flag of situ
// serve and parses, the probes call routes situ serves, the learner is a
// single Recreate replica, and every metric and label the dashboard
// queries is one a running situ serve exports.
package deploy
