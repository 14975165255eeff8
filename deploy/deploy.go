// Package deploy holds hpgate's deployment files and the tests that keep
// them true:
//
//   - hpgate.example.yaml: a complete example config (ExampleConfig);
//   - systemd/: hardened units (Type=notify, WatchdogSec, DynamicUser,
//     credentials for secrets) for `hpgate run`, `hpgate identity` and
//     `hpgate writeback`, with their configs and environment file;
//   - kubernetes/: a kustomize base (StatefulSet with a volume for state,
//     headless Service, PodDisruptionBudget, ServiceMonitor; Deployments
//     for identity and writeback) and an example
//     county overlay (370282-jimo) with its config, mapping files and
//     placeholder Secrets;
//   - container/: a container file that builds a static binary on a
//     distroless base.
//
// The tests decode every Kubernetes manifest strictly into the Kubernetes
// API types, load every config with hpgate's own loader and drivers as the
// process would see it (mounts, credentials, environment), check that the
// parts agree with each other (ports, paths, probes, secrets, drain time),
// and run `systemd-analyze verify` and `kubectl kustomize` where those are
// installed.
package deploy

import _ "embed"

// ExampleConfig is hpgate.example.yaml: a complete config for the Jimo
// county pack, its mapping path relative to this directory.
//
//go:embed hpgate.example.yaml
var ExampleConfig []byte
