package deployments

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// binaryShutdownBound reads cmd/ovation's shutdownTimeout: after SIGTERM
// the process exits within it whatever a role is doing, so a pusher's drain
// must fit in it.
func binaryShutdownBound(t *testing.T) time.Duration {
	t.Helper()
	src, err := os.ReadFile(repoRoot + "/cmd/ovation/main.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^var shutdownTimeout = (\d+) \* time\.Second$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("cmd/ovation/main.go: no `var shutdownTimeout = N * time.Second`; update this test to read the bound")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return time.Duration(n) * time.Second
}

// k8sObjects is a set of decoded Kubernetes objects by name.
type k8sObjects struct {
	deployments  map[string]*appsv1.Deployment
	statefulsets map[string]*appsv1.StatefulSet
	jobs         map[string]*batchv1.Job
	services     map[string]*corev1.Service
	configmaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pdbs         map[string]*policyv1.PodDisruptionBudget
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	namespaces   map[string]*corev1.Namespace
	all          []metav1.Object
}

func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// decodeK8s decodes every document strictly into its typed API object: a
// misspelt or misplaced field is an error, as the API server would reject
// it (or, worse, silently drop it).
func decodeK8s(t *testing.T, where string, b []byte) *k8sObjects {
	t.Helper()
	o := &k8sObjects{
		deployments: map[string]*appsv1.Deployment{}, statefulsets: map[string]*appsv1.StatefulSet{},
		jobs: map[string]*batchv1.Job{}, services: map[string]*corev1.Service{},
		configmaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		namespaces: map[string]*corev1.Namespace{},
	}
	for i, doc := range splitYAML(b) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Errorf("%s document %d: %v", where, i, err)
			continue
		}
		var obj metav1.Object
		var err error
		strict := func(v metav1.Object) { obj = v; err = yaml.UnmarshalStrict(doc, v) }
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			v := &appsv1.Deployment{}
			strict(v)
			o.deployments[v.Name] = v
		case "apps/v1 StatefulSet":
			v := &appsv1.StatefulSet{}
			strict(v)
			o.statefulsets[v.Name] = v
		case "batch/v1 Job":
			v := &batchv1.Job{}
			strict(v)
			o.jobs[v.Name] = v
		case "v1 Service":
			v := &corev1.Service{}
			strict(v)
			o.services[v.Name] = v
		case "v1 ConfigMap":
			v := &corev1.ConfigMap{}
			strict(v)
			o.configmaps[v.Name] = v
		case "v1 Secret":
			v := &corev1.Secret{}
			strict(v)
			o.secrets[v.Name] = v
		case "v1 Namespace":
			v := &corev1.Namespace{}
			strict(v)
			o.namespaces[v.Name] = v
		case "policy/v1 PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			strict(v)
			o.pdbs[v.Name] = v
		case "autoscaling/v2 HorizontalPodAutoscaler":
			v := &autoscalingv2.HorizontalPodAutoscaler{}
			strict(v)
			o.hpas[v.Name] = v
		default:
			t.Errorf("%s document %d: unexpected %s %s (add it to the test if it belongs)", where, i, tm.APIVersion, tm.Kind)
			continue
		}
		if err != nil {
			t.Errorf("%s %s %s: %v", where, tm.Kind, obj.GetName(), err)
			continue
		}
		if obj.GetName() == "" {
			t.Errorf("%s document %d (%s): no metadata.name", where, i, tm.Kind)
		}
		o.all = append(o.all, obj)
	}
	return o
}

// kustomization is the part of a kustomization.yaml these files use,
// decoded strictly so that a misspelt key fails.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	NamePrefix string `json:"namePrefix,omitempty"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
	Replicas []struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	} `json:"replicas,omitempty"`
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
	SecretGenerator []struct {
		Name     string   `json:"name"`
		Literals []string `json:"literals"`
	} `json:"secretGenerator,omitempty"`
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	return k
}

const k8sBase = "k8s/base"

// k8sOverlays lists the overlays under k8s/overlays.
func k8sOverlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("k8s/overlays")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, "k8s/overlays/"+e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no overlays under k8s/overlays")
	}
	return out
}

// TestK8sFilesParse decodes every file of the base and the overlay on its
// own (no kubectl needed): each must be a strictly valid object or patch,
// every file must be referenced by its kustomization, and every patch
// must target an object of the base.
func TestK8sFilesParse(t *testing.T) {
	base := &k8sObjects{}
	for _, dir := range append([]string{k8sBase}, k8sOverlays(t)...) {
		k := readKustomization(t, dir)
		listed := map[string]bool{"kustomization.yaml": true}
		for _, r := range k.Resources {
			listed[r] = true
		}
		for _, p := range k.Patches {
			listed[p.Path] = true
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !listed[e.Name()] {
				t.Errorf("%s/%s is not referenced by its kustomization.yaml", dir, e.Name())
			}
		}
		for name := range listed {
			if strings.HasPrefix(name, "../") || name == "kustomization.yaml" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%s/kustomization.yaml references %s: %v", dir, name, err)
				continue
			}
			objs := decodeK8s(t, dir+"/"+name, b)
			if dir == k8sBase {
				base.all = append(base.all, objs.all...)
			}
			isPatch := slices.ContainsFunc(k.Patches, func(p struct {
				Path string `json:"path"`
			}) bool {
				return p.Path == name
			})
			if !isPatch {
				continue
			}
			for _, o := range objs.all {
				if !slices.ContainsFunc(base.all, func(b metav1.Object) bool {
					return b.GetName() == o.GetName() && fmt.Sprintf("%T", b) == fmt.Sprintf("%T", o)
				}) {
					t.Errorf("%s/%s patches %T %s, which the base does not have", dir, name, o, o.GetName())
				}
			}
			checkPatchEnv(t, dir+"/"+name, objs)
		}
	}
}

// checkPatchEnv checks the OVATION_* variables a patch sets against the
// role of the container it patches.
func checkPatchEnv(t *testing.T, where string, o *k8sObjects) {
	roleOf := map[string]string{"ovation-ingest": "ingest", "ovation-push": "push", "ovation-sink": "sink", "ovation-process": "process", "ovation-analytics": "analytics"}
	for name, d := range o.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			checkInvocation(t, invocation{where: where + " " + name, args: []string{roleOf[name]}, env: envNames(c)})
		}
	}
	for name, s := range o.statefulsets {
		for _, c := range s.Spec.Template.Spec.Containers {
			checkInvocation(t, invocation{where: where + " " + name, args: []string{roleOf[name]}, env: envNames(c)})
		}
	}
	for name, cm := range o.configmaps {
		if name != "ovation-config" {
			continue
		}
		for _, r := range servingRoles {
			checkInvocation(t, invocation{where: where + " ConfigMap " + name + " (shared by `" + r + "`)", args: []string{r}, env: keys(cm.Data)})
		}
	}
}

func envNames(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		out = append(out, e.Name)
	}
	return out
}

// kustomizeBuild renders dir with the kustomize library (the same code as
// `kubectl kustomize` and `kubectl apply -k`), so no kubectl is needed.
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: encode: %v", dir, err)
	}
	return out
}

func TestK8sBaseRendered(t *testing.T) {
	o := decodeK8s(t, "kustomize build "+k8sBase, kustomizeBuild(t, k8sBase))
	checkRendered(t, o, false)
}

func TestK8sOverlaysRendered(t *testing.T) {
	for _, dir := range k8sOverlays(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := decodeK8s(t, "kustomize build "+dir, kustomizeBuild(t, dir))
			checkRendered(t, o, true)
			k := readKustomization(t, dir)
			for _, obj := range o.all {
				if _, isNS := obj.(*corev1.Namespace); !isNS && obj.GetNamespace() != k.Namespace {
					t.Errorf("%T %s: namespace %q; the overlay sets %q", obj, obj.GetName(), obj.GetNamespace(), k.Namespace)
				}
			}
			for _, r := range k.Replicas {
				got := -1
				name := k.NamePrefix + r.Name
				if d, ok := o.deployments[name]; ok && d.Spec.Replicas != nil {
					got = int(*d.Spec.Replicas)
				}
				if s, ok := o.statefulsets[name]; ok && s.Spec.Replicas != nil {
					got = int(*s.Spec.Replicas)
				}
				if got != r.Count {
					t.Errorf("overlay asks %d replicas of %s; rendered %d", r.Count, name, got)
				}
			}
			if len(k.Images) != 1 {
				t.Fatalf("overlay: want one images entry, have %d", len(k.Images))
			}
			want := k.Images[0].NewName + ":" + k.Images[0].NewTag
			for _, w := range workloads(o) {
				for _, c := range w.pod.Spec.Containers {
					if c.Image != want {
						t.Errorf("%s container %s: image %q; the overlay sets %q", w.where, c.Name, c.Image, want)
					}
				}
			}
		})
	}
}

// TestK8sOverlaysKeepProcessorsApart checks that no two overlays' processors
// could share a transactional id or a consumer group: overlays may run on
// one Kafka cluster (a region's own stack and its takeover stack for the
// other region), and a shared transactional id would fence the other
// stack's processors, a shared group would mix their partitions.
func TestK8sOverlaysKeepProcessorsApart(t *testing.T) {
	txnPrefix := map[string]string{}
	groups := map[string]string{}
	for _, dir := range k8sOverlays(t) {
		o := decodeK8s(t, "kustomize build "+dir, kustomizeBuild(t, dir))
		for name, ss := range o.statefulsets {
			env, _ := containerEnv(o, ss.Spec.Template.Spec.Containers[0])
			if env["OVATION_TRANSACTIONAL_ID"] == "fieldRef:metadata.name" {
				if other, dup := txnPrefix[name]; dup {
					t.Errorf("%s and %s both name their processors %s-N: the same transactional ids", dir, other, name)
				}
				txnPrefix[name] = dir
			}
			group := env["OVATION_GROUP"]
			if group == "" {
				group = flagDefault(t, "group", "process")
			}
			if other, dup := groups[group]; dup {
				t.Errorf("%s and %s both use the consumer group %s", dir, other, group)
			}
			groups[group] = dir
		}
	}
}

// workload is a pod template with where it came from.
type workload struct {
	where    string
	kind     string
	name     string
	replicas int
	pod      corev1.PodTemplateSpec
	selector *metav1.LabelSelector
}

func workloads(o *k8sObjects) []workload {
	var out []workload
	for _, name := range keys(o.deployments) {
		d := o.deployments[name]
		out = append(out, workload{"Deployment/" + name, "Deployment", name, replicas(d.Spec.Replicas), d.Spec.Template, d.Spec.Selector})
	}
	for _, name := range keys(o.statefulsets) {
		s := o.statefulsets[name]
		out = append(out, workload{"StatefulSet/" + name, "StatefulSet", name, replicas(s.Spec.Replicas), s.Spec.Template, s.Spec.Selector})
	}
	for _, name := range keys(o.jobs) {
		j := o.jobs[name]
		out = append(out, workload{"Job/" + name, "Job", name, 1, j.Spec.Template, nil})
	}
	return out
}

func replicas(p *int32) int {
	if p == nil {
		return 1
	}
	return int(*p)
}

// containerEnv resolves a container's variables: envFrom ConfigMaps and
// Secrets (in order), then env. Values from a fieldRef are "fieldRef:" +
// the path. missing lists envFrom sources not in o.
func containerEnv(o *k8sObjects, c corev1.Container) (env map[string]string, missing []string) {
	env = map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := o.configmaps[ef.ConfigMapRef.Name]
			if !ok {
				missing = append(missing, "ConfigMap/"+ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case ef.SecretRef != nil:
			s, ok := o.secrets[ef.SecretRef.Name]
			if !ok {
				missing = append(missing, "Secret/"+ef.SecretRef.Name)
				continue
			}
			for k, v := range s.Data {
				env[k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		case strings.HasPrefix(e.Value, "$(") && strings.HasSuffix(e.Value, ")"):
			// Kubernetes expands $(VAR) from variables defined before.
			env[e.Name] = env[strings.TrimSuffix(strings.TrimPrefix(e.Value, "$("), ")")]
		default:
			env[e.Name] = e.Value
		}
	}
	return env, missing
}

// checkRendered checks a rendered kustomization: what the issue asks for
// (Deployments for ingest, push, sink; a StatefulSet for processors;
// Services; an HPA for pushers; PDBs; probes; env config; resources), and
// that every reference between objects resolves.
func checkRendered(t *testing.T, o *k8sObjects, complete bool) {
	roles := map[string]workload{}
	partitions := 0
	for _, w := range workloads(o) {
		spec := w.pod.Spec
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod does not set runAsNonRoot", w.where)
		}
		if w.selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(w.selector)
			if err != nil || !sel.Matches(labels.Set(w.pod.Labels)) {
				t.Errorf("%s: selector %v does not match its own pod labels %v", w.where, w.selector, w.pod.Labels)
			}
		}
		if len(spec.Containers) != 1 {
			t.Errorf("%s: %d containers; want 1", w.where, len(spec.Containers))
			continue
		}
		c := spec.Containers[0]
		env, missing := containerEnv(o, c)
		if complete && len(missing) > 0 {
			t.Errorf("%s: envFrom %v, which the render does not contain", w.where, missing)
		}
		iv := invocation{where: w.where, args: c.Args, env: keys(env)}
		checkInvocation(t, iv)
		path := strings.Join(iv.path(), " ")
		if len(c.Command) > 0 {
			t.Errorf("%s: sets command %q; the image's entrypoint is the ovation binary and manifests give args only", w.where, c.Command)
		}
		checkResources(t, w.where, c, env)
		if path == "topics create" {
			if w.kind != "Job" {
				t.Errorf("%s runs topics create; want a Job", w.where)
			}
			partitions, _ = strconv.Atoi(env["OVATION_PARTITIONS"])
			continue
		}
		if prev, dup := roles[path]; dup {
			t.Errorf("%s and %s both run %q", w.where, prev.where, path)
		}
		roles[path] = w

		// One HTTP port per role, named http, the port the role listens on.
		_, port, err := net.SplitHostPort(env["OVATION_HTTP_ADDR"])
		if err != nil {
			t.Errorf("%s: OVATION_HTTP_ADDR %q: %v", w.where, env["OVATION_HTTP_ADDR"], err)
		}
		if len(c.Ports) != 1 || c.Ports[0].Name != "http" || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port {
			t.Errorf("%s: ports %v; want one named http on %s (OVATION_HTTP_ADDR)", w.where, c.Ports, port)
		}
		for _, p := range []struct {
			kind  string
			probe *corev1.Probe
			path  string
		}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
			if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
				t.Errorf("%s: %s probe %+v; want GET %s on port http", w.where, p.kind, p.probe, p.path)
			}
		}
		if w.pod.Annotations["prometheus.io/port"] != port || w.pod.Annotations["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: scrape annotations %v do not point at /metrics on %s", w.where, w.pod.Annotations, port)
		}
	}

	for _, want := range []struct{ role, kind string }{{"ingest", "Deployment"}, {"push", "Deployment"}, {"sink", "Deployment"}, {"analytics", "Deployment"}, {"process", "StatefulSet"}} {
		w, ok := roles[want.role]
		if !ok {
			t.Errorf("nothing runs `ovation %s`", want.role)
			continue
		}
		if w.kind != want.kind {
			t.Errorf("%s runs %s; want a %s", w.where, want.role, want.kind)
		}
	}
	if partitions == 0 {
		t.Error("no topics Job sets OVATION_PARTITIONS")
	}

	// Processors: a stable, distinct transactional id per replica, from
	// the StatefulSet pod name; no more replicas than partitions.
	if w, ok := roles["process"]; ok {
		env, _ := containerEnv(o, w.pod.Spec.Containers[0])
		if env["OVATION_TRANSACTIONAL_ID"] != "fieldRef:metadata.name" {
			t.Errorf("%s: OVATION_TRANSACTIONAL_ID resolves to %q; want the pod name (fieldRef metadata.name), stable per StatefulSet replica", w.where, env["OVATION_TRANSACTIONAL_ID"])
		}
		if partitions > 0 && w.replicas > partitions {
			t.Errorf("%s: %d replicas for %d partitions: the extra ones would idle", w.where, w.replicas, partitions)
		}
		ss := o.statefulsets[w.name]
		if svc, ok := o.services[ss.Spec.ServiceName]; !ok || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("%s: serviceName %q is not a headless Service of the render", w.where, ss.Spec.ServiceName)
		}
	}

	// Pushers: surge before draining; the grace period covers preStop and
	// the drain, and the drain fits the binary's shutdown bound.
	if w, ok := roles["push"]; ok {
		d := o.deployments[w.name]
		if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			t.Errorf("%s: rolling update must keep maxUnavailable 0: capacity for the drained clients", w.where)
		}
		c := w.pod.Spec.Containers[0]
		env, _ := containerEnv(o, c)
		drain, err := time.ParseDuration(env["OVATION_DRAIN_WINDOW"])
		if err != nil {
			t.Errorf("%s: OVATION_DRAIN_WINDOW %q: %v", w.where, env["OVATION_DRAIN_WINDOW"], err)
		}
		var preStop time.Duration
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		grace := time.Duration(*w.pod.Spec.TerminationGracePeriodSeconds) * time.Second
		// push drains for at most the window + 5 s, then closes clients.
		if bound := binaryShutdownBound(t); drain+5*time.Second >= bound {
			t.Errorf("%s: drain window %v + 5 s does not fit the binary's %v shutdown bound", w.where, drain, bound)
		}
		if grace < preStop+drain+10*time.Second {
			t.Errorf("%s: terminationGracePeriodSeconds %v < preStop %v + drain %v + 10 s: the kubelet would kill it mid-drain", w.where, grace, preStop, drain)
		}
		hpaFound := false
		for _, h := range o.hpas {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == w.name {
				hpaFound = true
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
					t.Errorf("HPA %s: minReplicas must be at least 2 (a drain needs another pusher)", h.Name)
				}
				if h.Spec.Behavior == nil || h.Spec.Behavior.ScaleDown == nil || len(h.Spec.Behavior.ScaleDown.Policies) == 0 {
					t.Errorf("HPA %s: no scale-down policy: every scale-down drains a pusher's sockets", h.Name)
				}
			}
		}
		if !hpaFound {
			t.Errorf("no HPA targets %s", w.where)
		}
	}
	for _, h := range o.hpas {
		if _, ok := o.deployments[h.Spec.ScaleTargetRef.Name]; !ok || h.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("HPA %s targets %s %s, not a Deployment of the render", h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		}
	}

	// Services and PDBs select exactly one workload; Service ports name a
	// container port; every multi-replica workload has a PDB.
	matching := func(sel labels.Selector) []workload {
		var out []workload
		for _, w := range roles {
			if sel.Matches(labels.Set(w.pod.Labels)) {
				out = append(out, w)
			}
		}
		return out
	}
	for name, svc := range o.services {
		ws := matching(labels.SelectorFromSet(svc.Spec.Selector))
		if len(svc.Spec.Selector) == 0 || len(ws) != 1 {
			t.Errorf("Service %s selects %d workloads; want 1", name, len(ws))
			continue
		}
		for _, p := range svc.Spec.Ports {
			if !slices.ContainsFunc(ws[0].pod.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
				t.Errorf("Service %s: targetPort %q is not a port of %s", name, p.TargetPort.String(), ws[0].where)
			}
		}
	}
	covered := map[string]bool{}
	for name, pdb := range o.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			t.Errorf("PDB %s: %v", name, err)
			continue
		}
		ws := matching(sel)
		if len(ws) != 1 {
			t.Errorf("PDB %s selects %d workloads; want 1", name, len(ws))
			continue
		}
		covered[ws[0].where] = true
	}
	for _, w := range roles {
		multi := w.replicas > 1
		for _, h := range o.hpas {
			if h.Spec.ScaleTargetRef.Name == w.name && h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > 1 {
				multi = true
			}
		}
		if multi && !covered[w.where] {
			t.Errorf("%s runs %d replicas without a PodDisruptionBudget", w.where, w.replicas)
		}
	}
	for _, obj := range o.all {
		if obj.GetLabels()["app.kubernetes.io/part-of"] != "ovation" {
			t.Errorf("%T %s lacks the label app.kubernetes.io/part-of=ovation", obj, obj.GetName())
		}
	}
}

// checkResources wants CPU and memory requests and a memory limit, and a
// GOMEMLIMIT between 80% and 95% of that limit.
func checkResources(t *testing.T, where string, c corev1.Container, env map[string]string) {
	t.Helper()
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		t.Errorf("%s: want cpu and memory requests and a memory limit: %+v", where, c.Resources)
		return
	}
	if gml, ok := env["GOMEMLIMIT"]; ok {
		q, err := resource.ParseQuantity(strings.TrimSuffix(gml, "B"))
		if err != nil {
			t.Errorf("%s: GOMEMLIMIT %q: %v", where, gml, err)
			return
		}
		r := float64(q.Value()) / float64(lim.Memory().Value())
		if r < 0.8 || r > 0.95 {
			t.Errorf("%s: GOMEMLIMIT %s is %.0f%% of the %s memory limit; want 80-95%%", where, gml, 100*r, lim.Memory())
		}
	}
}
