package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/hpgate/hpgate/pipeline/config"
)

const (
	baseDir    = "kubernetes/base"
	overlayDir = "kubernetes/overlays/370282-jimo"
	// containerConfigPath is where the image's CMD, the pod's args and the
	// systemd unit read the config.
	containerConfigPath = "/etc/hpgate/hpgate.yaml"
	// nonrootUID is distroless's nonroot user, the image's USER and the
	// pod's runAsUser.
	nonrootUID = 65532
	// configMapMaxBytes is the Kubernetes limit on a ConfigMap's data.
	configMapMaxBytes = 1 << 20
)

// The Kubernetes API types a manifest may decode into; anything else is an
// error until it is added here (and checked).
var (
	k8sScheme  = runtime.NewScheme()
	k8sDecoder runtime.Decoder
	allowed    = map[schema.GroupVersionKind]bool{
		appsv1.SchemeGroupVersion.WithKind("StatefulSet"):           true,
		appsv1.SchemeGroupVersion.WithKind("Deployment"):            true,
		corev1.SchemeGroupVersion.WithKind("Service"):               true,
		corev1.SchemeGroupVersion.WithKind("ConfigMap"):             true,
		corev1.SchemeGroupVersion.WithKind("Secret"):                true,
		corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"): true,
		policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"): true,
	}
)

func init() {
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme} {
		if err := add(k8sScheme); err != nil {
			panic(err)
		}
	}
	// Strict: unknown and duplicate fields are errors; no defaulting or
	// conversion.
	k8sDecoder = serializer.NewCodecFactory(k8sScheme, serializer.EnableStrict).UniversalDeserializer()
}

// serviceMonitor is the part of a monitoring.coreos.com/v1 ServiceMonitor
// the manifests use (the CRD's Go types are not a dependency). It is
// decoded strictly too: a field not listed here is reported, so a typo is
// not silently ignored; add fields as the manifests need them.
type serviceMonitor struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name" json:"name"`
		Namespace string            `yaml:"namespace" json:"namespace"`
		Labels    map[string]string `yaml:"labels" json:"labels"`
	} `yaml:"metadata" json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels" json:"matchLabels"`
		} `yaml:"selector" json:"selector"`
		Endpoints []struct {
			Port          string `yaml:"port" json:"port"`
			Path          string `yaml:"path" json:"path"`
			Interval      string `yaml:"interval" json:"interval"`
			ScrapeTimeout string `yaml:"scrapeTimeout" json:"scrapeTimeout"`
		} `yaml:"endpoints" json:"endpoints"`
	} `yaml:"spec" json:"spec"`
}

// kustomization is the part of kustomize's Kustomization these manifests
// use, decoded strictly; the renderer below implements exactly this part.
type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
	Patches []struct {
		Path string `yaml:"path"`
	} `yaml:"patches"`
	ConfigMapGenerator []generator `yaml:"configMapGenerator"`
	SecretGenerator    []generator `yaml:"secretGenerator"`
}

type generator struct {
	Name     string   `yaml:"name"`
	Behavior string   `yaml:"behavior"`
	Files    []string `yaml:"files"`
	Envs     []string `yaml:"envs"`
	Literals []string `yaml:"literals"`
}

func strictYAML(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	p := filepath.Join(dir, "kustomization.yaml")
	var k kustomization
	if err := strictYAML(readFile(t, p), &k); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("%s: apiVersion %q kind %q, want kustomize.config.k8s.io/v1beta1 Kustomization", p, k.APIVersion, k.Kind)
	}
	return k
}

// decodeManifests decodes every document of a manifest stream strictly
// into its Kubernetes API type (or the local ServiceMonitor type).
func decodeManifests(t *testing.T, where string, data []byte) []any {
	t.Helper()
	var out []any
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", where, n, err)
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s: document %d: %v", where, n, err)
		}
		if head.APIVersion == "" && head.Kind == "" {
			continue // comments only
		}
		if head.APIVersion == "monitoring.coreos.com/v1" && head.Kind == "ServiceMonitor" {
			sm := &serviceMonitor{}
			if err := strictYAML(doc, sm); err != nil {
				t.Fatalf("%s: ServiceMonitor: %v", where, err)
			}
			out = append(out, sm)
			continue
		}
		obj, gvk, err := k8sDecoder.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d (%s %s) does not decode strictly: %v", where, n, head.APIVersion, head.Kind, err)
		}
		if !allowed[*gvk] {
			t.Fatalf("%s: document %d is a %s, which these tests do not check; add it to allowed and to the checks", where, n, gvk)
		}
		out = append(out, obj)
	}
	return out
}

// bundle is a rendered set of objects.
type bundle struct {
	statefulSets    []*appsv1.StatefulSet
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	pdbs            []*policyv1.PodDisruptionBudget
	serviceMonitors []*serviceMonitor
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	pvcs            map[string]*corev1.PersistentVolumeClaim
}

func newBundle() *bundle {
	return &bundle{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, pvcs: map[string]*corev1.PersistentVolumeClaim{}}
}

func (b *bundle) add(t *testing.T, where string, objs []any) {
	t.Helper()
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.StatefulSet:
			b.statefulSets = append(b.statefulSets, o)
		case *appsv1.Deployment:
			b.deployments = append(b.deployments, o)
		case *corev1.Service:
			b.services = append(b.services, o)
		case *policyv1.PodDisruptionBudget:
			b.pdbs = append(b.pdbs, o)
		case *serviceMonitor:
			b.serviceMonitors = append(b.serviceMonitors, o)
		case *corev1.ConfigMap:
			b.configMaps[o.Name] = o
		case *corev1.Secret:
			b.secrets[o.Name] = o
		case *corev1.PersistentVolumeClaim:
			b.pvcs[o.Name] = o
		default:
			t.Fatalf("%s: unexpected %T", where, o)
		}
	}
}

func (b *bundle) include(o *bundle) {
	b.statefulSets = append(b.statefulSets, o.statefulSets...)
	b.deployments = append(b.deployments, o.deployments...)
	b.services = append(b.services, o.services...)
	b.pdbs = append(b.pdbs, o.pdbs...)
	b.serviceMonitors = append(b.serviceMonitors, o.serviceMonitors...)
	for k, v := range o.configMaps {
		b.configMaps[k] = v
	}
	for k, v := range o.secrets {
		b.secrets[k] = v
	}
	for k, v := range o.pvcs {
		b.pvcs[k] = v
	}
}

func (b *bundle) service(name string) *corev1.Service {
	for _, s := range b.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// renderDir renders a kustomization the way kustomize does, for the part
// of kustomize it uses (see kustomization), with generated names left
// without their hash suffix. TestKustomizeBuild checks it against kubectl.
func renderDir(t *testing.T, dir string) *bundle {
	t.Helper()
	k := readKustomization(t, dir)
	b := newBundle()
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			b.include(renderDir(t, p))
			continue
		}
		b.add(t, p, decodeManifests(t, p, readFile(t, p)))
	}
	for _, g := range k.ConfigMapGenerator {
		data := generate(t, dir, g)
		cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: g.Name}}
		for key, v := range data {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[key] = string(v)
		}
		old, exists := b.configMaps[g.Name]
		switch g.Behavior {
		case "", "create":
			if exists {
				t.Fatalf("%s: configMapGenerator %s: already exists; use behavior replace or merge", dir, g.Name)
			}
		case "replace":
			if !exists {
				t.Fatalf("%s: configMapGenerator %s: behavior replace, but there is nothing to replace", dir, g.Name)
			}
		case "merge":
			if !exists {
				t.Fatalf("%s: configMapGenerator %s: behavior merge, but there is nothing to merge", dir, g.Name)
			}
			for key, v := range old.Data {
				if _, ok := cm.Data[key]; !ok {
					cm.Data[key] = v
				}
			}
		default:
			t.Fatalf("%s: configMapGenerator %s: unknown behavior %q", dir, g.Name, g.Behavior)
		}
		b.configMaps[g.Name] = cm
	}
	for _, g := range k.SecretGenerator {
		if g.Behavior != "" && g.Behavior != "create" {
			t.Fatalf("%s: secretGenerator %s: behavior %s is not implemented by this test's renderer", dir, g.Name, g.Behavior)
		}
		if _, exists := b.secrets[g.Name]; exists {
			t.Fatalf("%s: secretGenerator %s: already exists", dir, g.Name)
		}
		b.secrets[g.Name] = &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: g.Name},
			Type:       corev1.SecretTypeOpaque,
			Data:       generate(t, dir, g),
		}
	}
	for _, p := range k.Patches {
		where := filepath.Join(dir, p.Path)
		b.patch(t, where, decodeManifests(t, where, readFile(t, where)))
	}
	for _, img := range k.Images {
		for _, tpl := range b.podTemplates() {
			for i := range tpl.Spec.Containers {
				c := &tpl.Spec.Containers[i]
				name, tag, _ := strings.Cut(c.Image, ":")
				if name != img.Name {
					continue
				}
				if img.NewName != "" {
					name = img.NewName
				}
				if img.NewTag != "" {
					tag = img.NewTag
				}
				c.Image = name
				if tag != "" {
					c.Image += ":" + tag
				}
			}
		}
	}
	if k.Namespace != "" {
		for _, o := range b.objectMetas() {
			o.Namespace = k.Namespace
		}
		for _, sm := range b.serviceMonitors {
			sm.Metadata.Namespace = k.Namespace
		}
	}
	return b
}

// podTemplates are the pod templates of the workloads, StatefulSets first.
func (b *bundle) podTemplates() []*corev1.PodTemplateSpec {
	var out []*corev1.PodTemplateSpec
	for _, o := range b.statefulSets {
		out = append(out, &o.Spec.Template)
	}
	for _, o := range b.deployments {
		out = append(out, &o.Spec.Template)
	}
	return out
}

// deployment returns the Deployment of that name, or nil.
func (b *bundle) deployment(name string) *appsv1.Deployment {
	for _, d := range b.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (b *bundle) objectMetas() []*metav1.ObjectMeta {
	var out []*metav1.ObjectMeta
	for _, o := range b.statefulSets {
		out = append(out, &o.ObjectMeta)
	}
	for _, o := range b.deployments {
		out = append(out, &o.ObjectMeta)
	}
	for _, o := range b.services {
		out = append(out, &o.ObjectMeta)
	}
	for _, o := range b.pdbs {
		out = append(out, &o.ObjectMeta)
	}
	for _, o := range b.configMaps {
		out = append(out, &o.ObjectMeta)
	}
	for _, o := range b.secrets {
		out = append(out, &o.ObjectMeta)
	}
	for _, o := range b.pvcs {
		out = append(out, &o.ObjectMeta)
	}
	return out
}

// patch applies a strategic-merge patch, for the kinds of patch the
// overlays use: StatefulSet or Deployment volumes, each given whole and
// merged by name, and containers (merged by name) giving only
// volumeMounts, each merged by mountPath. Anything else fails, so that the
// renderer never silently differs from kustomize.
func (b *bundle) patch(t *testing.T, where string, objs []any) {
	t.Helper()
	for _, o := range objs {
		var (
			name   string
			pt     *corev1.PodTemplateSpec
			target *corev1.PodTemplateSpec
		)
		switch p := o.(type) {
		case *appsv1.StatefulSet:
			rest := p.DeepCopy()
			rest.Spec.Template.Spec.Volumes = nil
			rest.Spec.Template.Spec.Containers = nil
			if !apiequality.Semantic.DeepEqual(rest, &appsv1.StatefulSet{TypeMeta: p.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: p.Name}}) {
				t.Fatalf("%s: this test's renderer patches StatefulSet volumes and volumeMounts only; extend it for the rest", where)
			}
			name, pt = p.Name, &p.Spec.Template
			for _, s := range b.statefulSets {
				if s.Name == p.Name {
					target = &s.Spec.Template
				}
			}
		case *appsv1.Deployment:
			rest := p.DeepCopy()
			rest.Spec.Template.Spec.Volumes = nil
			rest.Spec.Template.Spec.Containers = nil
			if !apiequality.Semantic.DeepEqual(rest, &appsv1.Deployment{TypeMeta: p.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: p.Name}}) {
				t.Fatalf("%s: this test's renderer patches Deployment volumes and volumeMounts only; extend it for the rest", where)
			}
			name, pt = p.Name, &p.Spec.Template
			if d := b.deployment(p.Name); d != nil {
				target = &d.Spec.Template
			}
		default:
			t.Fatalf("%s: this test's renderer applies StatefulSet and Deployment patches only, not %T", where, o)
		}
		if target == nil {
			t.Fatalf("%s: no %T %s to patch", where, o, name)
		}
		vols := &target.Spec.Volumes
		for _, v := range pt.Spec.Volumes {
			i := slices.IndexFunc(*vols, func(x corev1.Volume) bool { return x.Name == v.Name })
			if i < 0 {
				*vols = append(*vols, v)
				continue
			}
			if (v.ConfigMap != nil && v.ConfigMap.Name == "") || (v.Secret != nil && v.Secret.SecretName == "") {
				t.Fatalf("%s: volume %s: give the whole volume (its ConfigMap or Secret name too)", where, v.Name)
			}
			(*vols)[i] = v
		}
		for _, pc := range pt.Spec.Containers {
			mounts := pc.VolumeMounts
			pc.VolumeMounts = nil
			if !apiequality.Semantic.DeepEqual(pc, corev1.Container{Name: pc.Name}) {
				t.Fatalf("%s: container %s: this test's renderer patches a container's volumeMounts only; extend it for the rest", where, pc.Name)
			}
			cs := target.Spec.Containers
			i := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == pc.Name })
			if i < 0 {
				t.Fatalf("%s: %s has no container %s to patch", where, name, pc.Name)
			}
			vm := &cs[i].VolumeMounts
			for _, m := range mounts {
				if j := slices.IndexFunc(*vm, func(x corev1.VolumeMount) bool { return x.MountPath == m.MountPath }); j >= 0 {
					(*vm)[j] = m
				} else {
					*vm = append(*vm, m)
				}
			}
		}
	}
}

// generate returns a generator's key → content, as kustomize builds it
// (files: "path" or "key=path", key defaulting to the base name; envs:
// KEY=VALUE lines, '#' comments; literals: KEY=VALUE).
func generate(t *testing.T, dir string, g generator) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	put := func(key string, v []byte, where string) {
		if _, dup := out[key]; dup {
			t.Fatalf("%s: generator %s: key %s given twice", where, g.Name, key)
		}
		if !regexp.MustCompile(`^[-._a-zA-Z0-9]+$`).MatchString(key) {
			t.Fatalf("%s: generator %s: %q is not a valid ConfigMap or Secret key", where, g.Name, key)
		}
		out[key] = v
	}
	for _, f := range g.Files {
		key, p, ok := strings.Cut(f, "=")
		if !ok {
			key, p = path.Base(f), f
		}
		put(key, readFile(t, filepath.Join(dir, p)), filepath.Join(dir, p))
	}
	for _, e := range g.Envs {
		p := filepath.Join(dir, e)
		for n, l := range strings.Split(string(readFile(t, p)), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("%s:%d: not KEY=VALUE", p, n+1)
			}
			put(k, []byte(v), p)
		}
	}
	for _, l := range g.Literals {
		k, v, _ := strings.Cut(l, "=")
		put(k, []byte(v), dir)
	}
	return out
}

// baseStatefulSet is the base's StatefulSet, for other tests' cross-checks.
func baseStatefulSet(t *testing.T) *appsv1.StatefulSet {
	t.Helper()
	b := renderDir(t, baseDir)
	if len(b.statefulSets) != 1 {
		t.Fatalf("%s: %d StatefulSets, want 1", baseDir, len(b.statefulSets))
	}
	return b.statefulSets[0]
}

// TestKubernetesBase renders the base (every manifest decoded strictly) and
// checks its parts against each other and its config against hpgate's
// loader. The base names Secrets the overlay provides: its DSNs and key are
// test values here.
func TestKubernetesBase(t *testing.T) {
	checkBundle(t, renderDir(t, baseDir), false)
}

// TestKubernetesOverlay renders the example county overlay and checks it
// whole: the Secrets exist and hold every variable and file the config
// reads, its placeholders make hpgate refuse to start, and with real-looking
// secrets the config, sources and mappings load as the pod sees them.
func TestKubernetesOverlay(t *testing.T) {
	checkBundle(t, renderDir(t, overlayDir), true)
}

// TestKustomizeBuild renders base and overlay with kubectl's kustomize,
// decodes every object it prints strictly, runs the same checks on the
// result (generated names with their hash suffix, references rewritten by
// kustomize) and checks that this file's renderer produced the same
// objects.
func TestKustomizeBuild(t *testing.T) {
	kubectl, ok := lookPath("kubectl")
	if !ok {
		t.Skip("kubectl not installed")
	}
	for _, tc := range []struct {
		dir      string
		complete bool
	}{{baseDir, false}, {overlayDir, true}} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			out, err := exec.Command(kubectl, "kustomize", tc.dir).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					err = fmt.Errorf("%v: %s", err, ee.Stderr)
				}
				t.Fatalf("kubectl kustomize %s: %v", tc.dir, err)
			}
			got := newBundle()
			got.add(t, "kubectl kustomize "+tc.dir, decodeManifests(t, "kubectl kustomize "+tc.dir, out))
			checkBundle(t, got, tc.complete)
			compareBundles(t, renderDir(t, tc.dir), got)
		})
	}
}

// compareBundles checks that kustomize's rendering (got) equals this
// file's (want), once got's generated names lose their hash suffix.
func compareBundles(t *testing.T, want, got *bundle) {
	t.Helper()
	rename := map[string]string{}
	hash := regexp.MustCompile(`-[a-z0-9]{10}$`)
	norm := newBundle()
	for name, cm := range got.configMaps {
		base := hash.ReplaceAllString(name, "")
		rename[name] = base
		cm = cm.DeepCopy()
		cm.Name = base
		norm.configMaps[base] = cm
	}
	for name, s := range got.secrets {
		base := hash.ReplaceAllString(name, "")
		rename[name] = base
		s = s.DeepCopy()
		s.Name = base
		norm.secrets[base] = s
	}
	renameRefs := func(ps *corev1.PodSpec) {
		for i := range ps.Volumes {
			if v := ps.Volumes[i].ConfigMap; v != nil && rename[v.Name] != "" {
				v.Name = rename[v.Name]
			}
			if v := ps.Volumes[i].Secret; v != nil && rename[v.SecretName] != "" {
				v.SecretName = rename[v.SecretName]
			}
		}
		for i := range ps.Containers {
			for _, ef := range ps.Containers[i].EnvFrom {
				if ef.SecretRef != nil && rename[ef.SecretRef.Name] != "" {
					ef.SecretRef.Name = rename[ef.SecretRef.Name]
				}
				if ef.ConfigMapRef != nil && rename[ef.ConfigMapRef.Name] != "" {
					ef.ConfigMapRef.Name = rename[ef.ConfigMapRef.Name]
				}
			}
		}
	}
	for _, s := range got.statefulSets {
		s = s.DeepCopy()
		renameRefs(&s.Spec.Template.Spec)
		norm.statefulSets = append(norm.statefulSets, s)
	}
	for _, d := range got.deployments {
		d = d.DeepCopy()
		renameRefs(&d.Spec.Template.Spec)
		norm.deployments = append(norm.deployments, d)
	}
	norm.services, norm.pdbs, norm.serviceMonitors, norm.pvcs = got.services, got.pdbs, got.serviceMonitors, got.pvcs

	sortVolumes := func(b *bundle) {
		for _, tpl := range b.podTemplates() {
			slices.SortFunc(tpl.Spec.Volumes, func(a, b corev1.Volume) int { return strings.Compare(a.Name, b.Name) })
			// kustomize puts a patch's new volumeMounts first; the
			// kubelet does not care for mounts that do not nest.
			for i := range tpl.Spec.Containers {
				slices.SortFunc(tpl.Spec.Containers[i].VolumeMounts, func(a, b corev1.VolumeMount) int { return strings.Compare(a.MountPath, b.MountPath) })
			}
		}
	}
	want = cloneBundle(t, want)
	sortVolumes(want)
	sortVolumes(norm)
	for _, part := range []struct {
		name      string
		want, got any
	}{
		{"StatefulSets", want.statefulSets, norm.statefulSets},
		{"Deployments", want.deployments, norm.deployments},
		{"Services", want.services, norm.services},
		{"PodDisruptionBudgets", want.pdbs, norm.pdbs},
		{"ServiceMonitors", want.serviceMonitors, norm.serviceMonitors},
		{"ConfigMaps", want.configMaps, norm.configMaps},
		{"Secrets", want.secrets, norm.secrets},
		{"PersistentVolumeClaims", want.pvcs, norm.pvcs},
	} {
		if !apiequality.Semantic.DeepEqual(part.want, part.got) {
			w, _ := json.MarshalIndent(part.want, "", "  ")
			g, _ := json.MarshalIndent(part.got, "", "  ")
			t.Errorf("%s: kustomize and this test's renderer differ:\n%s", part.name, firstDiff(string(w), string(g)))
		}
	}
}

// cloneBundle deep-copies the objects a comparison may reorder.
func cloneBundle(t *testing.T, b *bundle) *bundle {
	t.Helper()
	c := newBundle()
	c.include(b)
	c.statefulSets = nil
	for _, s := range b.statefulSets {
		c.statefulSets = append(c.statefulSets, s.DeepCopy())
	}
	c.deployments = nil
	for _, d := range b.deployments {
		c.deployments = append(c.deployments, d.DeepCopy())
	}
	return c
}

// firstDiff shows where two texts first differ, with some context.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			lo := max(0, i-5)
			return fmt.Sprintf("line %d:\nthis renderer:\n%s\nkustomize:\n%s", i+1,
				strings.Join(al[lo:min(len(al), i+3)], "\n"), strings.Join(bl[lo:min(len(bl), i+3)], "\n"))
		}
	}
	return "(same JSON; differs in types or nil-versus-empty)"
}

// checkBundle checks a rendered base or overlay. complete says the Secrets
// the pod reads are part of it (the overlay).
func checkBundle(t *testing.T, b *bundle, complete bool) {
	t.Helper()
	if len(b.statefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want 1", len(b.statefulSets))
	}
	sts := b.statefulSets[0]
	ps := &sts.Spec.Template.Spec
	podLabels := labels.Set(sts.Spec.Template.Labels)

	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("StatefulSet replicas %v: want exactly 1 (one process per state directory)", sts.Spec.Replicas)
	}
	if sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Errorf("StatefulSet selector %v does not select its own pods (%v)", sts.Spec.Selector, podLabels)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: hpgate never calls the Kubernetes API")
	}

	// The governing Service: headless, selects the pod, its ports target
	// named container ports.
	svc := b.service(sts.Spec.ServiceName)
	if svc == nil {
		t.Fatalf("StatefulSet serviceName %q: no such Service", sts.Spec.ServiceName)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None (headless)", svc.Name, svc.Spec.ClusterIP)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service %s selector %v does not select the pods (%v)", svc.Name, svc.Spec.Selector, podLabels)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ps.Containers))
	}
	c := &ps.Containers[0]
	containerPorts := map[string]int32{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	servicePorts := servicePortTargets(t, svc, c)

	// Probes: on the port the Service names, at /healthz and /readyz.
	probePort := checkProbes(t, c, func(port string) bool { return slices.Contains(mapValues(servicePorts), port) },
		fmt.Sprintf("a port by name that the Service %s targets (%v)", svc.Name, servicePorts))

	checkPodSecurity(t, ps, c)
	checkResources(t, c)

	if got := checkExposure(t, b, sts.Name, podLabels, c, probePort); got != nil && got != svc {
		t.Errorf("the Service that exposes the gateway is %s, not its governing Service %s", got.Name, svc.Name)
	}
	// Nothing exposes, budgets or scrapes pods of no workload here (a
	// selector typo), and no Service is scraped twice.
	for _, svc := range b.services {
		if len(b.workloadsSelected(svc.Spec.Selector)) == 0 {
			t.Errorf("Service %s selector %v selects no workload's pods", svc.Name, svc.Spec.Selector)
		}
	}
	for _, pdb := range b.pdbs {
		if sel, err := metav1.LabelSelectorAsMap(pdb.Spec.Selector); err != nil || len(b.workloadsSelected(sel)) == 0 {
			t.Errorf("PodDisruptionBudget %s selector %v selects no workload's pods", pdb.Name, pdb.Spec.Selector)
		}
	}
	for _, sm := range b.serviceMonitors {
		n := 0
		for _, svc := range b.services {
			if len(sm.Spec.Selector.MatchLabels) > 0 && labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("ServiceMonitor %s selector %v selects %d Services, want 1", sm.Metadata.Name, sm.Spec.Selector.MatchLabels, n)
		}
	}

	for name, cm := range b.configMaps {
		n := 0
		for _, v := range cm.Data {
			n += len(v)
		}
		if n > configMapMaxBytes {
			t.Errorf("ConfigMap %s holds %d bytes, over Kubernetes' 1 MiB", name, n)
		}
	}
	if complete {
		if name, tag, _ := strings.Cut(c.Image, ":"); tag == "" || tag == "latest" || !strings.Contains(name, "/") {
			t.Errorf("image %s: want a registry path and a fixed tag (the overlay's images:)", c.Image)
		}
	}
	checkRoleWorkloads(t, b, complete)
	if t.Failed() {
		return
	}
	checkPodConfig(t, b, sts, c, containerPorts[probePort], complete)
}

// workloadsSelected returns the StatefulSets and Deployments whose pods a
// label selector (as a map, matchLabels) matches.
func (b *bundle) workloadsSelected(sel map[string]string) []string {
	var out []string
	if len(sel) == 0 {
		return nil
	}
	s := labels.SelectorFromSet(sel)
	for _, sts := range b.statefulSets {
		if s.Matches(labels.Set(sts.Spec.Template.Labels)) {
			out = append(out, sts.Name)
		}
	}
	for _, d := range b.deployments {
		if s.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d.Name)
		}
	}
	return out
}

// checkExposure checks how workload name (pods labelled podLabels, main
// container c, probes on container port probePort) is exposed: exactly
// one headless Service, one PodDisruptionBudget and one ServiceMonitor,
// each selecting this workload's pods and no other's; the Service's
// ports target named ports of c, one of them the probed (metrics) port,
// which the ServiceMonitor scrapes at /metrics. It returns the Service.
func checkExposure(t *testing.T, b *bundle, name string, podLabels labels.Set, c *corev1.Container, probePort string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	for _, s := range b.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			continue
		}
		if svc != nil {
			t.Errorf("Services %s and %s both select the %s pods", svc.Name, s.Name, name)
		}
		svc = s
	}
	if svc == nil {
		t.Errorf("no Service selects the %s pods (%v)", name, podLabels)
		return nil
	}
	if w := b.workloadsSelected(svc.Spec.Selector); !slices.Equal(w, []string{name}) {
		t.Errorf("Service %s selector %v selects the pods of %v, want only %s", svc.Name, svc.Spec.Selector, w, name)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None (headless: Prometheus scrapes each pod)", svc.Name, svc.Spec.ClusterIP)
	}
	servicePorts := servicePortTargets(t, svc, c)
	if !slices.Contains(mapValues(servicePorts), probePort) {
		t.Errorf("Service %s targets %v, not the probed metrics port %s", svc.Name, servicePorts, probePort)
	}

	n := 0
	for _, pdb := range b.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(podLabels) {
			continue
		}
		n++
		if m, err := metav1.LabelSelectorAsMap(pdb.Spec.Selector); err != nil || !slices.Equal(b.workloadsSelected(m), []string{name}) {
			t.Errorf("PodDisruptionBudget %s selector %v selects the pods of %v, want only %s", pdb.Name, pdb.Spec.Selector, b.workloadsSelected(m), name)
		}
		if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Errorf("PodDisruptionBudget %s: give one of minAvailable and maxUnavailable", pdb.Name)
		}
	}
	if n != 1 {
		t.Errorf("%d PodDisruptionBudgets select the %s pods, want 1", n, name)
	}

	n = 0
	for _, sm := range b.serviceMonitors {
		if len(sm.Spec.Selector.MatchLabels) == 0 || !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
			continue
		}
		n++
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("ServiceMonitor %s has no endpoints", sm.Metadata.Name)
		}
		for _, ep := range sm.Spec.Endpoints {
			if servicePorts[ep.Port] != probePort {
				t.Errorf("ServiceMonitor %s endpoint port %q: want the port of Service %s that targets the metrics port %s (%v)", sm.Metadata.Name, ep.Port, svc.Name, probePort, servicePorts)
			}
			if ep.Path != "" && ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor %s endpoint path %s, want /metrics", sm.Metadata.Name, ep.Path)
			}
			for _, d := range []string{ep.Interval, ep.ScrapeTimeout} {
				if _, err := time.ParseDuration(d); d != "" && err != nil {
					t.Errorf("ServiceMonitor %s: duration %q: %v", sm.Metadata.Name, d, err)
				}
			}
		}
	}
	if n != 1 {
		t.Errorf("%d ServiceMonitors select Service %s (labels %v), want 1", n, svc.Name, svc.Labels)
	}
	return svc
}

// servicePortTargets checks that every port of svc targets a port of c by
// name and returns them: Service port name → container port name.
func servicePortTargets(t *testing.T, svc *corev1.Service, c *corev1.Container) map[string]string {
	t.Helper()
	containerPorts := map[string]int32{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	out := map[string]string{}
	for _, sp := range svc.Spec.Ports {
		if sp.TargetPort.Type != intstr.String {
			t.Errorf("Service %s port %s: targetPort %s: name the container port", svc.Name, sp.Name, sp.TargetPort.String())
			continue
		}
		if _, ok := containerPorts[sp.TargetPort.StrVal]; !ok {
			t.Errorf("Service %s port %s: targetPort %s is not a port of container %s (%v)", svc.Name, sp.Name, sp.TargetPort.StrVal, c.Name, containerPorts)
		}
		out[sp.Name] = sp.TargetPort.StrVal
	}
	return out
}

// checkPodSecurity checks the pod's and the container's security context
// (every hpgate workload has the same).
func checkPodSecurity(t *testing.T, ps *corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	// Security.
	psc, csc := ps.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil {
		t.Fatalf("%s: pod and container need a securityContext", c.Name)
		return
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext: runAsNonRoot is not true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != nonrootUID {
		t.Errorf("pod securityContext: runAsUser %v, want %d (the image's nonroot USER)", psc.RunAsUser, nonrootUID)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext: seccompProfile is not RuntimeDefault")
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("container securityContext: readOnlyRootFilesystem is not true")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("container securityContext: allowPrivilegeEscalation is not false")
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Error("container securityContext: privileged")
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
		t.Errorf("container securityContext: capabilities %+v, want drop [ALL] and nothing added", csc.Capabilities)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: hpgate never calls the Kubernetes API")
	}
}

// checkResources checks requests and limits, and Go's soft memory limit
// below the hard one.
func checkResources(t *testing.T, c *corev1.Container) {
	t.Helper()
	// Resources, and Go's soft memory limit below the hard one.
	limit, request := c.Resources.Limits[corev1.ResourceMemory], c.Resources.Requests[corev1.ResourceMemory]
	if limit.IsZero() || request.IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources %v: want memory requests and limits and a CPU request", c.Resources)
	} else if request.Cmp(limit) > 0 {
		t.Errorf("memory request %s above the limit %s", request.String(), limit.String())
	}
	if v, ok := envValue(c, "GOMEMLIMIT"); !ok {
		t.Error("no GOMEMLIMIT: without it hpgate's default (64 MiB + 16 MiB per mapping) can pass limits.memory")
	} else if n, err := parseGoMemLimit(v); err != nil {
		t.Errorf("GOMEMLIMIT %s: %v", v, err)
	} else if !limit.IsZero() && (n >= limit.Value()*95/100 || n < limit.Value()/2) {
		t.Errorf("GOMEMLIMIT %s is %d bytes: want 50–95%% of limits.memory %s (%d)", v, n, limit.String(), limit.Value())
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func envValue(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

// parseGoMemLimit parses GOMEMLIMIT's syntax: bytes with an optional
// B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	for i, suffix := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			return n << (10 * (4 - i)), err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// mount is a volume mounted into the container, as this test laid it out.
type mount struct {
	kind     string // configMap, secret, claim (a volumeClaimTemplate), pvc (a PersistentVolumeClaim), emptyDir
	ref      string // the ConfigMap's, Secret's or claim's name
	readOnly bool
}

// materialize lays out the container's volume mounts under root as the
// kubelet would: ConfigMap and Secret keys (or their items) as files, a
// subPath as one file, claims as empty directories. A ConfigMap or Secret
// that is not in the bundle is reported if complete, else left out.
func materialize(t *testing.T, b *bundle, ps *corev1.PodSpec, claims []corev1.PersistentVolumeClaim, c *corev1.Container, root string, complete bool) map[string]mount {
	t.Helper()
	out := map[string]mount{}
	for _, m := range c.VolumeMounts {
		dst := filepath.Join(root, m.MountPath)
		if slices.ContainsFunc(claims, func(p corev1.PersistentVolumeClaim) bool { return p.Name == m.Name }) {
			if err := os.MkdirAll(dst, 0o700); err != nil {
				t.Fatal(err)
			}
			out[m.MountPath] = mount{kind: "claim", ref: m.Name, readOnly: m.ReadOnly}
			continue
		}
		i := slices.IndexFunc(ps.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Errorf("volumeMount %s: no volume or claim template of that name", m.Name)
			continue
		}
		v := ps.Volumes[i]
		var (
			data  map[string][]byte
			items []corev1.KeyToPath
			found bool
			mt    mount
		)
		switch {
		case v.ConfigMap != nil:
			mt = mount{kind: "configMap", ref: v.ConfigMap.Name, readOnly: m.ReadOnly}
			items = v.ConfigMap.Items
			if cm, ok := b.configMaps[v.ConfigMap.Name]; ok {
				found, data = true, map[string][]byte{}
				for k, s := range cm.Data {
					data[k] = []byte(s)
				}
				for k, d := range cm.BinaryData {
					data[k] = d
				}
			}
		case v.Secret != nil:
			mt = mount{kind: "secret", ref: v.Secret.SecretName, readOnly: m.ReadOnly}
			items = v.Secret.Items
			if s, ok := b.secrets[v.Secret.SecretName]; ok {
				found, data = true, map[string][]byte{}
				for k, d := range s.Data {
					data[k] = d
				}
				for k, d := range s.StringData {
					data[k] = []byte(d)
				}
			}
		case v.EmptyDir != nil:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				t.Fatal(err)
			}
			out[m.MountPath] = mount{kind: "emptyDir", ref: v.Name, readOnly: m.ReadOnly}
			continue
		case v.PersistentVolumeClaim != nil:
			mt := mount{kind: "pvc", ref: v.PersistentVolumeClaim.ClaimName, readOnly: m.ReadOnly || v.PersistentVolumeClaim.ReadOnly}
			if _, ok := b.pvcs[mt.ref]; !ok && complete {
				t.Errorf("volume %s: PersistentVolumeClaim %s is not part of the rendering", v.Name, mt.ref)
			}
			if m.SubPath != "" {
				t.Errorf("volumeMount %s: subPath on a claim: mount the volume", m.Name)
			}
			if err := os.MkdirAll(dst, 0o700); err != nil {
				t.Fatal(err)
			}
			out[m.MountPath] = mt
			continue
		default:
			t.Fatalf("volume %s: only ConfigMap, Secret and claim volumes are laid out by this test", v.Name)
		}
		out[m.MountPath] = mt
		if !found {
			if complete {
				t.Errorf("volume %s: %s %s is not part of the rendering", v.Name, mt.kind, mt.ref)
			}
			continue
		}
		files := map[string][]byte{}
		if items == nil {
			files = data
		} else {
			listed := map[string]bool{}
			for _, it := range items {
				d, ok := data[it.Key]
				if !ok {
					t.Errorf("volume %s: item key %s is not in %s %s: the pod would not start", v.Name, it.Key, mt.kind, mt.ref)
					continue
				}
				files[it.Path] = d
				listed[it.Key] = true
			}
			for k := range data {
				if !listed[k] {
					t.Errorf("volume %s: key %s of %s %s is not among its items, so it is not mounted", v.Name, k, mt.kind, mt.ref)
				}
			}
		}
		if m.SubPath != "" {
			d, ok := files[m.SubPath]
			if !ok {
				t.Errorf("volumeMount %s: subPath %s is not a file of %s %s", m.Name, m.SubPath, mt.kind, mt.ref)
				continue
			}
			writeFile(t, dst, d)
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		for p, d := range files {
			writeFile(t, filepath.Join(dst, p), d)
		}
	}
	return out
}

// under returns the mount whose path holds p.
func under(mounts map[string]mount, p string) (string, mount, bool) {
	best := ""
	for mp := range mounts {
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	return best, mounts[best], best != ""
}

// checkPodConfig checks the config the container reads against the pod
// and loads it as hpgate would, with the volumes laid out in a temporary
// root and the environment set from the pod's env and Secrets.
func checkPodConfig(t *testing.T, b *bundle, sts *appsv1.StatefulSet, c *corev1.Container, httpPort int32, complete bool) {
	t.Helper()
	if len(c.Command) > 0 {
		t.Errorf("container command %q: leave it to the image's ENTRYPOINT", c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("container args %q: want run -c %s", c.Args, containerConfigPath)
	}
	cfgPath := configFlag(c.Args)
	if cfgPath != containerConfigPath {
		t.Errorf("container args read config %s: want %s, where the image's CMD reads it", cfgPath, containerConfigPath)
	}
	root := t.TempDir()
	mounts := materialize(t, b, &sts.Spec.Template.Spec, sts.Spec.VolumeClaimTemplates, c, root, complete)
	text, err := os.ReadFile(filepath.Join(root, cfgPath))
	if err != nil {
		t.Fatalf("container args read config %s, but no volume puts a file there", cfgPath)
	}
	if _, m, _ := under(mounts, cfgPath); m.kind != "configMap" {
		t.Errorf("config %s comes from a %s, want a ConfigMap", cfgPath, m.kind)
	}
	cfg := loadLoose(t, cfgPath, text)

	// The listener: on the pod IP, on the probes' port.
	if host, port, err := net.SplitHostPort(cfg.HTTP.Listen); err != nil {
		t.Errorf("http.listen %q: %v", cfg.HTTP.Listen, err)
	} else {
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("http.listen %s: the kubelet probes and Prometheus scrape the pod IP; listen on all interfaces (:%s)", cfg.HTTP.Listen, port)
		}
		if port != fmt.Sprint(httpPort) {
			t.Errorf("http.listen %s: the probes and the Service use container port %d", cfg.HTTP.Listen, httpPort)
		}
	}
	// State on the claim; mappings from ConfigMaps; the key from a Secret.
	if mp, m, ok := under(mounts, cfg.State.Dir); !ok || m.kind != "claim" || mp != path.Clean(cfg.State.Dir) {
		t.Errorf("state.dir %s: want it to be the mount of a volumeClaimTemplate (mounts: %v)", cfg.State.Dir, mounts)
	}
	for _, p := range cfg.Mappings.Paths {
		if _, m, ok := under(mounts, p); !ok || m.kind != "configMap" {
			t.Errorf("mapping path %s: not under a ConfigMap volume (mounts: %v)", p, mounts)
		}
	}
	if cfg.PII.KeyEnv != "" {
		t.Errorf("pii.key_env %s: mount the key as a file (key_file) from a Secret", cfg.PII.KeyEnv)
	} else if _, m, ok := under(mounts, cfg.PII.KeyFile); !ok || m.kind != "secret" {
		t.Errorf("pii.key_file %s: not under a Secret volume (mounts: %v)", cfg.PII.KeyFile, mounts)
	}
	// The drain fits in the grace period.
	if g := sts.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil {
		t.Error("no terminationGracePeriodSeconds")
	} else if need := drainBudget(t, cfg); time.Duration(*g)*time.Second < need+30*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d: a drain may take %s (slowest source read + write_timeout); leave 30 s more", *g, need)
	}
	if t.Failed() {
		return
	}

	// Load it as the pod would.
	var paths []string
	for mp := range mounts {
		paths = append(paths, mp)
	}
	slices.SortFunc(paths, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, mp := range paths {
		pairs = append(pairs, mp, filepath.Join(root, mp))
	}
	rewritten := []byte(strings.NewReplacer(pairs...).Replace(string(text)))
	rootCfg := filepath.Join(root, cfgPath)
	keyFile := strings.NewReplacer(pairs...).Replace(cfg.PII.KeyFile)

	env := podEnv(t, b, c, complete)
	secretVars := map[string]bool{}  // variables holding secrets
	secretFiles := map[string]bool{} // files holding secrets, as laid out under root
	withSecret := map[string]bool{}  // sources reading a secret
	for _, name := range slices.Sorted(mapKeys(cfg.Sources)) {
		spec := sourceBlock(t, cfg, name)
		for key, v := range spec.secretEnvs {
			withSecret[name], secretVars[v] = true, true
			if _, ok := env[v]; !ok && complete {
				t.Errorf("source %s: %s %s is not set by the container's env or envFrom", name, key, v)
			}
		}
		for key, f := range spec.secretFiles {
			withSecret[name] = true
			secretFiles[strings.NewReplacer(pairs...).Replace(f)] = true
			if _, m, ok := under(mounts, f); !ok || m.kind != "secret" {
				t.Errorf("source %s: %s %s is not under a Secret volume", name, key, f)
			}
		}
		checkDropMount(t, b, name, spec, mounts, complete)
	}
	if t.Failed() {
		return
	}
	if complete {
		// The example Secrets hold placeholders: hpgate must refuse them.
		for k, v := range env {
			t.Setenv(k, v)
		}
		if _, err := os.Stat(keyFile); err != nil {
			t.Fatalf("pii.key_file %s: the Secret volume has no such key", cfg.PII.KeyFile)
		}
		for f := range secretFiles {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("secret file %s: the Secret volume has no such key", f)
			}
		}
		pc, err := config.Load(rootCfg, rewritten)
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		if !keyFails(pc) {
			t.Errorf("the example Secret's pseudonymisation key is accepted: a placeholder must never be a usable key")
		}
		refused := map[string]bool{}
		for _, e := range openSources(pc) {
			name, _, _ := strings.Cut(e, ": ")
			refused[name] = true
		}
		for _, name := range slices.Sorted(mapKeys(cfg.Sources)) {
			if withSecret[name] && !refused[name] {
				t.Errorf("source %s builds with the example Secrets: every placeholder must be refused", name)
			} else if !withSecret[name] && refused[name] {
				t.Errorf("source %s reads no secret but does not build: %v", name, openSources(pc))
			}
		}
	}
	// With test secrets in place of the placeholders, everything loads.
	for v := range secretVars {
		t.Setenv(v, testDSN)
	}
	for f := range secretFiles {
		writeFile(t, f, []byte(testDSN+"\n"))
	}
	writeFile(t, keyFile, []byte(testKeyHex+"\n"))
	ms := checkConfig(t, rootCfg, rewritten)
	if complete && len(ms) == 0 {
		t.Error("the overlay's pod compiles no mapping")
	}
	t.Logf("%s: %d mappings, %d sources load as the pod sees them", cfgPath, len(ms), len(cfg.Sources))
}

// checkDropMount checks a filedrop source's directories against the pod:
// dir, done_dir and failed_dir on one writable volume (files are renamed
// between them), a PersistentVolumeClaim of the rendering that the upload
// side can share (the pod's state volume is a claim template of its own).
func checkDropMount(t *testing.T, b *bundle, name string, spec sourceSpec, mounts map[string]mount, complete bool) {
	t.Helper()
	if spec.dropDirs == nil {
		return
	}
	dropMount, m, ok := under(mounts, spec.dropDirs[0])
	switch {
	case !ok || m.kind != "pvc":
		t.Errorf("source %s: dir %s is not under a PersistentVolumeClaim volume (mounts: %v)", name, spec.dropDirs[0], mounts)
		return
	case m.readOnly:
		t.Errorf("source %s: dir %s is on a read-only mount: hpgate moves files to done/ and failed/", name, spec.dropDirs[0])
	}
	for _, d := range spec.dropDirs[1:] {
		if mp, _, _ := under(mounts, d); mp != dropMount {
			t.Errorf("source %s: %s is not on the drop directory's volume (%s): files are renamed, not copied", name, d, dropMount)
		}
	}
	pvc, found := b.pvcs[m.ref]
	if !found {
		if complete {
			t.Errorf("source %s: PersistentVolumeClaim %s is not part of the rendering", name, m.ref)
		}
		return
	}
	if len(pvc.Spec.AccessModes) == 0 || pvc.Spec.Resources.Requests.Storage().IsZero() {
		t.Errorf("PersistentVolumeClaim %s: give accessModes and a storage request", pvc.Name)
	}
}

// podEnv returns the container's environment: env values and the keys of
// Secrets named by envFrom or secretKeyRef (those not in the bundle are
// reported if complete).
func podEnv(t *testing.T, b *bundle, c *corev1.Container, complete bool) map[string]string {
	t.Helper()
	env := map[string]string{}
	secret := func(name string) *corev1.Secret {
		s, ok := b.secrets[name]
		if !ok && complete {
			t.Errorf("container %s reads Secret %s, which is not part of the rendering", c.Name, name)
		}
		return s
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.SecretRef != nil:
			if s := secret(ef.SecretRef.Name); s != nil {
				for k, v := range s.Data {
					env[ef.Prefix+k] = string(v)
				}
			}
		case ef.ConfigMapRef != nil:
			t.Errorf("envFrom ConfigMap %s: DSNs are secrets; use a Secret", ef.ConfigMapRef.Name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			if s := secret(e.ValueFrom.SecretKeyRef.Name); s != nil {
				v, ok := s.Data[e.ValueFrom.SecretKeyRef.Key]
				if !ok {
					t.Errorf("env %s: Secret %s has no key %s", e.Name, s.Name, e.ValueFrom.SecretKeyRef.Key)
				}
				env[e.Name] = string(v)
			}
		}
	}
	return env
}

// TestKubernetesFilesAllUsed checks that every file under a kustomization
// directory is something kustomize reads (a resource, a patch, a generator
// input): a mapping file copied in but not listed would silently not be
// deployed.
func TestKubernetesFilesAllUsed(t *testing.T) {
	for _, dir := range []string{baseDir, overlayDir} {
		k := readKustomization(t, dir)
		used := map[string]bool{"kustomization.yaml": true}
		for _, r := range k.Resources {
			used[path.Clean(r)] = true
		}
		for _, p := range k.Patches {
			used[path.Clean(p.Path)] = true
		}
		for _, g := range slices.Concat(k.ConfigMapGenerator, k.SecretGenerator) {
			for _, f := range g.Files {
				_, p, ok := strings.Cut(f, "=")
				if !ok {
					p = f
				}
				used[path.Clean(p)] = true
			}
			for _, e := range g.Envs {
				used[path.Clean(e)] = true
			}
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if !used[filepath.ToSlash(rel)] {
				t.Errorf("%s: %s is not used by its kustomization.yaml", dir, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestKubernetesOverlayMatchesPack keeps the example overlay's mapping
// files identical to the county pack they copy (kustomize reads no file
// outside the overlay's directory, so they cannot be shared).
func TestKubernetesOverlayMatchesPack(t *testing.T) {
	overlayMaps := filepath.Join(overlayDir, "mappings")
	files := func(dir string) map[string]bool {
		out := map[string]bool{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if ext := filepath.Ext(p); ext == ".yaml" || ext == ".csv" {
				rel, _ := filepath.Rel(dir, p)
				out[rel] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	pack, copied := files(jimoPack), files(overlayMaps)
	// demo.yaml (kind: demo) holds the rows only `hpgate demo` uses to
	// build its synthetic county; `hpgate run`, check and test skip it. It
	// is not deployment config, so the overlay does not ship it.
	delete(pack, "demo.yaml")
	if len(pack) == 0 {
		t.Fatalf("no files in %s", jimoPack)
	}
	for rel := range pack {
		if !copied[rel] {
			t.Errorf("%s is not in the overlay: cp %s %s (and list it in the overlay's kustomization.yaml and statefulset-mappings.yaml)",
				rel, filepath.Join("mappings/counties/370282-jimo", rel), filepath.Join("deploy", overlayMaps, rel))
		} else if !bytes.Equal(readFile(t, filepath.Join(jimoPack, rel)), readFile(t, filepath.Join(overlayMaps, rel))) {
			t.Errorf("%s differs from the county pack's: cp %s %s", rel,
				filepath.Join("mappings/counties/370282-jimo", rel), filepath.Join("deploy", overlayMaps, rel))
		}
	}
	for rel := range copied {
		if !pack[rel] {
			t.Errorf("%s is in the overlay but not in the county pack", rel)
		}
	}
}

// TestQuantitiesParse guards the helpers above.
func TestQuantitiesParse(t *testing.T) {
	for in, want := range map[string]int64{"230MiB": 230 << 20, "1GiB": 1 << 30, "1024": 1024, "512KiB": 512 << 10, "5B": 5} {
		if got, err := parseGoMemLimit(in); err != nil || got != want {
			t.Errorf("parseGoMemLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if q := resource.MustParse("256Mi"); q.Value() != 256<<20 {
		t.Errorf("256Mi = %d", q.Value())
	}
}

// checkProbes checks c's liveness and readiness probes (and its startup
// probe, if any): an httpGet on /healthz (/readyz for readiness), all on
// one port given by name that portOK accepts (want describes it). It
// returns that port's name.
func checkProbes(t *testing.T, c *corev1.Container, portOK func(name string) bool, want string) string {
	t.Helper()
	probePort := ""
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
		must  bool
	}{
		{"livenessProbe", c.LivenessProbe, "/healthz", true},
		{"readinessProbe", c.ReadinessProbe, "/readyz", true},
		{"startupProbe", c.StartupProbe, "/healthz", false},
	} {
		if pr.probe == nil {
			if pr.must {
				t.Errorf("container %s has no %s", c.Name, pr.name)
			}
			continue
		}
		g := pr.probe.HTTPGet
		if g == nil {
			t.Errorf("%s: want an httpGet on %s", pr.name, pr.path)
			continue
		}
		if g.Path != pr.path {
			t.Errorf("%s path %s, want %s", pr.name, g.Path, pr.path)
		}
		if g.Port.Type != intstr.String || !portOK(g.Port.StrVal) {
			t.Errorf("%s port %s: want %s", pr.name, g.Port.String(), want)
		}
		if probePort != "" && g.Port.StrVal != probePort {
			t.Errorf("%s port %s differs from the other probes' %s", pr.name, g.Port.StrVal, probePort)
		}
		probePort = g.Port.StrVal
	}
	return probePort
}
