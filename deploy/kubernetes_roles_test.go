package deploy

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hpgate/hpgate/pipeline/writeback"
)

// The Deployments of `hpgate identity` and `hpgate writeback`.
const (
	identityDeployment  = "hpgate-identity"
	writebackDeployment = "hpgate-writeback"
)

// deploymentGrace is a base Deployment's terminationGracePeriodSeconds.
func deploymentGrace(t *testing.T, name string) time.Duration {
	t.Helper()
	d := renderDir(t, baseDir).deployment(name)
	if d == nil || d.Spec.Template.Spec.TerminationGracePeriodSeconds == nil {
		t.Fatalf("%s: no Deployment %s with a terminationGracePeriodSeconds", baseDir, name)
	}
	return time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
}

// checkRoleWorkloads checks the identity and writeback Deployments of a
// rendering: they exist, select only their own pods, probe and expose the
// port their config listens on, have the gateway's security context, a
// writable state directory of their own, the config, mappings and Secrets
// they read, and drain within their grace period; in the overlay the
// built hpgate loads them as the pod sees them.
func checkRoleWorkloads(t *testing.T, b *bundle, complete bool) {
	t.Helper()
	if len(b.deployments) != 2 {
		t.Errorf("%d Deployments, want 2 (%s, %s)", len(b.deployments), identityDeployment, writebackDeployment)
	}
	for _, role := range []struct{ name, cmd string }{{identityDeployment, "identity"}, {writebackDeployment, "writeback"}} {
		d := b.deployment(role.name)
		if d == nil {
			t.Errorf("no Deployment %s", role.name)
			continue
		}
		t.Run(role.cmd, func(t *testing.T) { checkRoleWorkload(t, b, d, role.cmd, complete) })
	}
}

func checkRoleWorkload(t *testing.T, b *bundle, d *appsv1.Deployment, role string, complete bool) {
	ps := &d.Spec.Template.Spec
	podLabels := labels.Set(d.Spec.Template.Labels)
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Errorf("selector %v does not select its own pods (%v)", d.Spec.Selector, podLabels)
	}
	// No selector of another workload, Service or budget takes these pods,
	// and this one takes no other pods.
	for _, sts := range b.statefulSets {
		if sel, _ := metav1.LabelSelectorAsSelector(sts.Spec.Selector); sel.Matches(podLabels) {
			t.Errorf("StatefulSet %s selects the %s pods", sts.Name, d.Name)
		}
		if sel, _ := metav1.LabelSelectorAsSelector(d.Spec.Selector); sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
			t.Errorf("Deployment %s selects the StatefulSet %s's pods", d.Name, sts.Name)
		}
	}
	switch {
	case d.Spec.Replicas == nil:
		t.Error("replicas not set")
	case role == "identity" && *d.Spec.Replicas < 2:
		t.Errorf("replicas %d: the example shows the group scaling out (2)", *d.Spec.Replicas)
	case role == "writeback" && *d.Spec.Replicas != 1:
		t.Errorf("replicas %d: rows_per_second is per process; one pod keeps the target database's load at it", *d.Spec.Replicas)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ps.Containers))
	}
	c := &ps.Containers[0]
	if len(c.Command) > 0 {
		t.Errorf("command %q: leave it to the image's ENTRYPOINT", c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != role || configFlag(c.Args) != containerConfigPath {
		t.Fatalf("args %q: want %s -c %s", c.Args, role, containerConfigPath)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	probePort := checkProbes(t, c, func(port string) bool { _, ok := ports[port]; return ok },
		fmt.Sprintf("a container port by name (%v)", ports))
	// Its own Service, budget and scrape config (checkExposure), and the
	// budget keeps one identity pod consuming through a drain.
	checkExposure(t, b, d.Name, podLabels, c, probePort)
	if role == "identity" && d.Spec.Replicas != nil {
		for _, pdb := range b.pdbs {
			if sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); !sel.Matches(podLabels) {
				continue
			}
			maxUnavail, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(*d.Spec.Replicas), true)
			if pdb.Spec.MaxUnavailable == nil || err != nil || maxUnavail < 1 || maxUnavail >= int(*d.Spec.Replicas) {
				t.Errorf("PodDisruptionBudget %s: maxUnavailable %v of %d replicas: want drains to proceed one pod at a time while another consumes", pdb.Name, pdb.Spec.MaxUnavailable, *d.Spec.Replicas)
			}
		}
	}
	checkPodSecurity(t, ps, c)
	checkResources(t, c)
	if t.Failed() {
		return
	}

	root := t.TempDir()
	mounts := materialize(t, b, ps, nil, c, root, complete)
	text, err := os.ReadFile(filepath.Join(root, containerConfigPath))
	if err != nil {
		t.Fatalf("no volume puts the config at %s", containerConfigPath)
	}
	if _, m, _ := under(mounts, containerConfigPath); m.kind != "configMap" {
		t.Errorf("config %s comes from a %s, want a ConfigMap", containerConfigPath, m.kind)
	}
	cfg := loadLoose(t, containerConfigPath, text)
	listen, key := cfg.Identity.Listen, "identity.listen"
	if role == "writeback" {
		listen, key = cfg.Writeback.Listen, "writeback.listen"
	}
	if host, port, err := net.SplitHostPort(listen); err != nil {
		t.Errorf("%s %q: %v", key, listen, err)
	} else {
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("%s %s: the kubelet probes the pod IP; listen on all interfaces (:%s)", key, listen, port)
		}
		if port != fmt.Sprint(ports[probePort]) {
			t.Errorf("%s %s: the probes use container port %s (%d)", key, listen, probePort, ports[probePort])
		}
	}
	stateDir := cmp.Or(flagValue(c.Args, "--state-dir"), cfg.State.Dir)
	if mp, m, ok := under(mounts, stateDir); !ok || mp != path.Clean(stateDir) || m.readOnly || (m.kind != "emptyDir" && m.kind != "pvc") {
		t.Errorf("state directory %s: want it to be a writable emptyDir or claim of this pod (mounts: %v)", stateDir, mounts)
	}
	for _, p := range cfg.Mappings.Paths {
		if _, m, ok := under(mounts, p); !ok || m.kind != "configMap" {
			t.Errorf("mapping path %s: not under a ConfigMap volume (mounts: %v)", p, mounts)
		}
	}
	env := podEnv(t, b, c, complete)
	var need time.Duration
	switch role {
	case "identity":
		// It reads no secret: no Secret volume, no Secret variable.
		for mp, m := range mounts {
			if m.kind == "secret" {
				t.Errorf("Secret %s mounted at %s: hpgate identity reads no secret", m.ref, mp)
			}
		}
		if len(c.EnvFrom) > 0 {
			t.Errorf("envFrom %v: hpgate identity reads no secret", c.EnvFrom)
		}
		need = cfg.Kafka.WriteTimeout
	case "writeback":
		if _, m, ok := under(mounts, cfg.PII.KeyFile); !ok || m.kind != "secret" {
			t.Errorf("pii.key_file %s: not under a Secret volume (mounts: %v)", cfg.PII.KeyFile, mounts)
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil && strings.HasPrefix(ef.SecretRef.Name, "hpgate-dsn") {
				t.Errorf("envFrom Secret %s: the gateway's read-only DSNs; writeback has its own", ef.SecretRef.Name)
			}
		}
	}
	var targets []string
	if role == "writeback" {
		var paths []string
		for _, p := range cfg.Mappings.Paths {
			paths = append(paths, filepath.Join(root, p))
		}
		wbs, err := writeback.Load(paths...)
		if err != nil {
			t.Fatalf("writeback files as mounted: %v", err)
		}
		for _, wb := range wbs {
			if slices.Contains(targets, wb.Target) {
				continue
			}
			targets = append(targets, wb.Target)
			spec := sourceBlock(t, cfg, wb.Target)
			need = max(need, spec.readTimeout)
			for k, v := range spec.secretEnvs {
				if _, ok := env[v]; !ok && complete {
					t.Errorf("target %s: %s %s is not set by the container's env or envFrom", wb.Target, k, v)
				}
				t.Setenv(v, testDSN)
			}
		}
		if complete && len(targets) == 0 {
			t.Error("the overlay's writeback pod has no writeback file")
		}
		need += cfg.Kafka.WriteTimeout
	}
	if g := ps.TerminationGracePeriodSeconds; g == nil {
		t.Error("no terminationGracePeriodSeconds")
	} else if time.Duration(*g)*time.Second < need+30*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d: a drain may take %s; leave 30 s more", *g, need)
	}
	if t.Failed() || !complete {
		return
	}

	// The built hpgate loads it as the pod sees it (test key in place).
	var mps []string
	for mp := range mounts {
		mps = append(mps, mp)
	}
	slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, mp := range mps {
		pairs = append(pairs, mp, filepath.Join(root, mp))
	}
	r := strings.NewReplacer(pairs...)
	p := filepath.Join(root, containerConfigPath)
	writeFile(t, p, []byte(r.Replace(string(text))))
	bin, _ := builtHpgate(t)
	args := []string{role, "-c", p, "--check"}
	want := "county policy file(s) (370282)"
	if role == "writeback" {
		writeFile(t, r.Replace(cfg.PII.KeyFile), []byte(testKeyHex+"\n"))
		args, want = []string{role, "-c", p, "--print-audit-ddl"}, "-- target "+targets[0]+" ("
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("hpgate %s as the pod sees it: %v\n%s", strings.Join(args, " "), err, out)
	}
}
