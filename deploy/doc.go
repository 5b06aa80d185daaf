// Package deploy holds situ's deployment files: the container image
// (Dockerfile, its .dockerignore, and the probe command its health check
// runs, in probe/), a compose file with a Kafka-compatible broker
// (Redpanda), one learner and two API replicas, Kubernetes manifests
// (kubernetes/, applied with kustomize: the learner and the API
// Deployments with their Services, the API's PodDisruptionBudget, the
// service policy as a generated ConfigMap, a ServiceMonitor, templates of
// the Secrets the API pods mount) and a Grafana dashboard (grafana/).
// docs/deploy.md explains how to use them.
//
// The package has no code of its own. Its tests keep the files true to
// the code: every flag and SITU_* variable they set is a flag of situ
// serve and parses, the probes call routes situ serves, every API process
// starts on its listen address (a score token, or --allow-open-score
// behind loopback-only ports), the secret files come from read-only
// mounts situ accepts and the committed templates hold only placeholders,
// the learner is a single Recreate replica, the .dockerignore keeps every file the image
// compiles or embeds, the image stamps the version situ version prints,
// and every metric and label the dashboard queries is one a running situ
// serve exports.
package deploy
