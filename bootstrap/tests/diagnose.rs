//! `bootstrap diagnose` on a real control plane (`p3/scripts/control-plane.sh up`: a real
//! kube-apiserver, scheduler, controller-manager with its EndpointSlice controller, Argo CD's
//! real controllers; kwok for the kubelet). Each broken state is made with kubectl in a
//! namespace of its own, the way a learner would break it; kwok holds pods in what a kubelet
//! reports (annotation `kwok.iot-rs.dev/simulate`, see p3/control-plane/README.md). The
//! binary's JSON must name each one's cause and object, with evidence and a fix that names the
//! right thing; a healthy namespace must give `[]` and exit 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TEST: &str = "diagnose_names_each_broken_state_on_a_real_control_plane";
/// How long a controller (scheduler, EndpointSlice, kwok, Argo CD) may take to act.
const CONVERGE: Duration = Duration::from_secs(90);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A control plane of this test's own, stopped on drop.
struct Plane {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

impl Drop for Plane {
    fn drop(&mut self) {
        let _ = Command::new(workspace().join("p3/scripts/control-plane.sh"))
            .arg("down")
            .arg(&self.dir)
            .output();
    }
}

enum Up {
    Running(Plane),
    Skipped(String),
}

fn up() -> Up {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plane");
    let out = Command::new(workspace().join("p3/scripts/control-plane.sh"))
        .arg("up")
        .arg(&dir)
        .current_dir(workspace())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    if let Some(reason) = last.strip_prefix("skipped: ") {
        return Up::Skipped(reason.to_owned());
    }
    assert!(
        out.status.success() && last.starts_with("export KUBECONFIG="),
        "control-plane.sh up failed ({:?})\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let env = dir.join("env");
    let kubectl = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && printf %s "$KUBECTL""#)
        .arg("bash")
        .arg(&env)
        .output()
        .unwrap();
    let kubectl = PathBuf::from(String::from_utf8(kubectl.stdout).unwrap());
    assert!(kubectl.is_file(), "no KUBECTL in {}", env.display());
    Up::Running(Plane {
        _tmp: tmp,
        kubeconfig: dir.join("kubeconfig"),
        dir,
        kubectl,
    })
}

impl Plane {
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Runs kubectl until it succeeds: a namespace's default ServiceAccount, which admission
    /// needs for pods, appears a moment after the namespace.
    fn must(&self, args: &[&str], stdin: Option<&str>) {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let out = self.kubectl(args, stdin);
            if out.status.success() {
                return;
            }
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(Instant::now() < deadline, "kubectl {args:?} failed: {err}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn namespace(&self, ns: &str) {
        self.must(&["create", "namespace", ns], None);
    }

    fn apply(&self, ns: &str, yaml: &str) {
        self.must(&["apply", "-n", ns, "-f", "-"], Some(yaml));
    }

    fn diagnose(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .arg("diagnose")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.diagnose(&all);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let findings = serde_json::from_str::<Vec<Value>>(&stdout).unwrap_or_else(|e| {
            panic!(
                "diagnose {args:?} printed no JSON array ({e}):\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code(), findings, stdout)
    }
}

/// Whether `f` is about (kind, namespace, name).
fn is_about(f: &Value, kind: &str, ns: Option<&str>, name: &str) -> bool {
    f["object"]["kind"] == kind
        && f["object"]["namespace"].as_str() == ns
        && f["object"]["name"] == name
}

fn evidence<'a>(f: &'a Value, field: &str) -> Option<&'a str> {
    f["evidence"]
        .as_array()?
        .iter()
        .find(|e| e["field"] == field)
        .and_then(|e| e["value"].as_str())
}

/// Collects what went wrong so that one run reports every broken scenario.
#[derive(Default)]
struct Verdicts(Vec<String>);

impl Verdicts {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// Polls `diagnose -n ns -o json` until it names `cause` for the object, exit code 1;
    /// returns the finding.
    fn expect(
        &mut self,
        plane: &Plane,
        args: &[&str],
        cause: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let (code, findings, stdout) = plane.json(args);
            let found = findings
                .iter()
                .find(|f| f["cause"] == cause && is_about(f, kind, ns, name));
            if let Some(f) = found {
                self.check(code == Some(1), || {
                    format!("diagnose {args:?} found {cause} but exited {code:?}")
                });
                return Some(f.clone());
            }
            if Instant::now() > deadline {
                self.0.push(format!(
                    "diagnose {args:?} did not name {cause} for {kind} {ns:?}/{name} within {} s; last output:\n{stdout}",
                    CONVERGE.as_secs()
                ));
                return None;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn fix_mentions(&mut self, f: &Option<Value>, needles: &[&str]) {
        let Some(f) = f else { return };
        let fix = f["fix"].as_str().unwrap_or_default();
        for n in needles {
            self.check(fix.contains(n), || {
                format!("the fix of {} does not mention {n:?}: {fix}", f["cause"])
            });
        }
    }

    fn evidence_is(&mut self, f: &Option<Value>, field: &str, value: &str) {
        let Some(f) = f else { return };
        let got = evidence(f, field);
        self.check(got == Some(value), || {
            format!(
                "{}: evidence {field} is {got:?}, not {value:?}: {f}",
                f["cause"]
            )
        });
    }

    fn evidence_contains(&mut self, f: &Option<Value>, field: &str, part: &str) {
        let Some(f) = f else { return };
        let got = evidence(f, field).unwrap_or_default();
        self.check(got.contains(part), || {
            format!("{}: evidence {field} = {got:?} lacks {part:?}", f["cause"])
        });
    }
}

/// A Deployment `name` (label app=name) whose pod template carries `annotations` and
/// `container` (YAML of one container, indented for the template).
fn deployment(name: &str, replicas: u32, annotations: &str, container: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{{annotations}}}
    spec:
      containers:
{container}"
    )
}

fn container(image: &str, extra: &str) -> String {
    format!("      - name: app\n        image: {image}\n{extra}")
}

fn service(name: &str, selector: &str, target: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{{selector}}}
  ports:
  - name: http
    port: 80
    targetPort: {target}
"
    )
}

fn ingress(class: Option<&str>, service: &str, port: u16) -> String {
    let class = class
        .map(|c| format!("  ingressClassName: {c}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
{class}  rules:
  - host: web.local
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: {service}
            port:
              number: {port}
"
    )
}

/// An Argo CD Application as Argo CD leaves it, in a namespace its controller does not watch
/// (so the recorded status stays): the Application CRD has no status subresource.
fn recorded_application(name: &str, automated: bool, status: &str) -> String {
    let policy = if automated {
        "  syncPolicy:\n    automated: {prune: true, selfHeal: true}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  project: default
  source: {{repoURL: 'http://127.0.0.1:3000/lab/iot.git', path: p3/confs, targetRevision: HEAD}}
  destination: {{server: 'https://kubernetes.default.svc', namespace: dev}}
{policy}status:
{status}"
    )
}

const PROBE_8080: &str = "        ports: [{containerPort: 80, name: http}]
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
";

#[test]
fn diagnose_names_each_broken_state_on_a_real_control_plane() {
    let plane = match up() {
        Up::Running(p) => p,
        Up::Skipped(reason) => {
            common::skip(TEST, &reason);
            return;
        }
    };
    let mut v = Verdicts::default();

    // --- Argo CD, first: its supervisor starts the real controllers once install.yaml is in.
    let argocd = common::pinned_argocd_manifest();
    if let Ok(manifest) = &argocd {
        plane.namespace("argocd");
        plane.must(
            &["apply", "--server-side", "-n", "argocd", "-f", "-"],
            Some(manifest),
        );
    }

    // --- Phase 1: each broken state in a namespace of its own, and a healthy one.
    let clean_app = deployment(
        "web",
        2,
        "",
        &container(
            "echo-app:v1",
            "        ports: [{containerPort: 8888, name: http}]
        readinessProbe:
          httpGet: {path: /readyz, port: http}
",
        ),
    );
    let scenarios: Vec<(&str, String)> = vec![
        (
            "clean",
            format!(
                "{clean_app}---\n{}---\n{}",
                service("web", "app: web", "http"),
                // An unknown value asks for nothing: the pod becomes ready like any other.
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: plain\n  annotations: {kwok.iot-rs.dev/simulate: none}\nspec:\n  containers: [{name: app, image: echo-app:v1}]\n"
            ),
        ),
        (
            "insufficient",
            deployment(
                "big",
                1,
                "",
                &container("echo-app:v1", "        resources: {requests: {cpu: '32', memory: 1Gi}}\n"),
            ),
        ),
        (
            "selector",
            "apiVersion: v1
kind: Pod
metadata: {name: ssd}
spec:
  nodeSelector: {disktype: ssd}
  containers: [{name: app, image: echo-app:v1}]
"
            .to_owned(),
        ),
        (
            "affinity",
            "apiVersion: v1
kind: Pod
metadata: {name: zoned}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1a]}]
  containers: [{name: app, image: echo-app:v1}]
"
            .to_owned(),
        ),
        (
            "pvc",
            "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: db}
spec:
  containers: [{name: db, image: postgres:17}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"
            .to_owned(),
        ),
        (
            "image",
            format!(
                "{}---
apiVersion: v1
kind: Pod
metadata:
  name: private
  annotations:
    kwok.iot-rs.dev/simulate: image-pull-backoff
    kwok.iot-rs.dev/pull-error: 'failed to pull and unpack image \"ghcr.io/acme/private:1.0\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aacme%2Fprivate%3Apull: 401 Unauthorized'
spec:
  containers: [{{name: app, image: 'ghcr.io/acme/private:1.0'}}]
",
                deployment(
                    "web",
                    1,
                    "kwok.iot-rs.dev/simulate: image-pull-backoff",
                    &container("registry.example.com/team/web:v9", "")
                )
            ),
        ),
        (
            "crash",
            format!(
                "{}---\n{}",
                deployment(
                    "worker",
                    2,
                    "kwok.iot-rs.dev/simulate: crash-loop, kwok.iot-rs.dev/exit-code: '127'",
                    &container("echo-app:v1", "        ports: [{containerPort: 8888}]\n")
                ),
                service("worker", "app: worker", "8888")
            ),
        ),
        (
            "oom",
            "apiVersion: v1
kind: Pod
metadata:
  name: hungry
  annotations: {kwok.iot-rs.dev/simulate: oom-killed}
spec:
  containers:
  - name: app
    image: echo-app:v1
    resources: {limits: {memory: 64Mi}}
"
            .to_owned(),
        ),
        (
            "readiness",
            deployment(
                "api",
                1,
                "kwok.iot-rs.dev/simulate: not-ready",
                &container("echo-app:v1", PROBE_8080),
            ),
        ),
        // No simulation asked: kwok reports the pod Ready, yet its probe cannot work.
        (
            "readiness-plain",
            deployment("api", 1, "", &container("echo-app:v1", PROBE_8080)),
        ),
        (
            "svc-selector",
            format!(
                "{}---\n{}",
                deployment("web", 1, "", &container("echo-app:v1", "")),
                service("web", "app: wbe", "80")
            ),
        ),
        (
            "svc-port",
            format!(
                "{}---\n{}",
                deployment(
                    "web",
                    1,
                    "",
                    &container("echo-app:v1", "        ports: [{containerPort: 80, name: http}]\n")
                ),
                service("web", "app: web", "8080")
            ),
        ),
        (
            "svc-endpoints",
            format!(
                "{}---\n{}",
                deployment(
                    "web",
                    1,
                    "kwok.iot-rs.dev/simulate: not-ready",
                    &container("echo-app:v1", "        ports: [{containerPort: 80}]\n")
                ),
                service("web", "app: web", "80")
            ),
        ),
        ("ingress-backend", ingress(Some("lab"), "missing", 80)),
        (
            "ingress-port",
            format!("{}---\n{}", service("web", "app: web", "80"), ingress(Some("lab"), "web", 8080)),
        ),
        (
            "ingress-class",
            format!("{}---\n{}", service("web", "app: web", "80"), ingress(Some("nginx"), "web", 80)),
        ),
        (
            "ingress-default",
            format!("{}---\n{}", service("web", "app: web", "80"), ingress(None, "web", 80)),
        ),
        (
            "ingress-controller",
            format!("{}---\n{}", service("web", "app: web", "80"), ingress(Some("lab"), "web", 80)),
        ),
        (
            "create-failed",
            deployment("web", 1, "", &container("echo-app:v1", ""))
                .replace("    spec:\n      containers:", "    spec:\n      serviceAccountName: robot\n      containers:"),
        ),
        (
            "ingress-tls",
            format!(
                "{}---\n{}",
                service("web", "app: web", "80"),
                ingress(Some("lab"), "web", 80).replace(
                    "spec:\n  ingressClassName: lab\n",
                    "spec:\n  ingressClassName: lab\n  tls: [{hosts: [web.local], secretName: web-tls}]\n"
                )
            ),
        ),
    ];
    plane.must(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: lab}
spec: {controller: example.com/lab-ingress}
",
        ),
    );
    for (ns, yaml) in &scenarios {
        plane.namespace(ns);
        plane.apply(ns, yaml);
    }

    // A healthy namespace: nothing, exit 0, `[]` (once its pods are up).
    let deadline = Instant::now() + CONVERGE;
    loop {
        let (code, findings, stdout) = plane.json(&["-n", "clean"]);
        if code == Some(0) && findings.is_empty() && stdout.trim() == "[]" {
            break;
        }
        if Instant::now() > deadline {
            v.0.push(format!(
                "the healthy namespace gave exit {code:?}:\n{stdout}"
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    let f = v.expect(
        &plane,
        &["-n", "insufficient"],
        "pod-unschedulable-insufficient-resources",
        "Deployment",
        Some("insufficient"),
        "big",
    );
    v.evidence_is(
        &f,
        "spec.template.spec.containers[*].resources.requests.cpu",
        "32",
    );
    v.evidence_is(&f, "node kwok-node-0 status.allocatable.cpu", "16");
    v.evidence_contains(
        &f,
        "status.conditions[PodScheduled].message",
        "Insufficient cpu",
    );
    v.fix_mentions(&f, &["set resources deployment/big", "--requests=cpu=16"]);

    let f = v.expect(
        &plane,
        &["-n", "selector"],
        "pod-unschedulable-node-selector",
        "Pod",
        Some("selector"),
        "ssd",
    );
    v.evidence_is(&f, "spec.nodeSelector.disktype", "ssd");
    v.evidence_is(&f, "node kwok-node-0 label disktype", "(not set)");
    v.fix_mentions(&f, &["kubectl label node <node> disktype=ssd"]);

    let f = v.expect(
        &plane,
        &["-n", "affinity"],
        "pod-unschedulable-node-selector",
        "Pod",
        Some("affinity"),
        "zoned",
    );
    v.evidence_is(
        &f,
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution[topology.kubernetes.io/zone]",
        "In (eu-west-1a)",
    );
    v.fix_mentions(&f, &["topology.kubernetes.io/zone"]);

    let f = v.expect(
        &plane,
        &["-n", "pvc"],
        "pvc-unbound",
        "PersistentVolumeClaim",
        Some("pvc"),
        "data",
    );
    v.evidence_is(&f, "default StorageClass", "(none)");
    v.evidence_is(&f, "used by", "pod db");
    v.fix_mentions(&f, &["storageclass.kubernetes.io/is-default-class"]);
    // The pod waiting for the claim is the claim's finding, not one of its own.
    let (_, findings, _) = plane.json(&["-n", "pvc"]);
    v.check(findings.len() == 1, || {
        format!("pvc: one root cause expected, got {findings:?}")
    });

    let f = v.expect(
        &plane,
        &["-n", "image"],
        "image-pull-failed",
        "Deployment",
        Some("image"),
        "web",
    );
    v.evidence_is(&f, "image", "registry.example.com/team/web:v9");
    v.evidence_contains(
        &f,
        "registry message",
        "registry.example.com/team/web:v9: not found",
    );
    v.fix_mentions(&f, &["kubectl -n image set image deployment/web app="]);
    let f = v.expect(
        &plane,
        &["-n", "image"],
        "image-pull-failed",
        "Pod",
        Some("image"),
        "private",
    );
    v.evidence_is(&f, "spec.imagePullSecrets", "(none)");
    v.evidence_contains(&f, "registry message", "401 Unauthorized");
    v.fix_mentions(
        &f,
        &[
            "create secret docker-registry",
            "--docker-server=ghcr.io",
            "imagePullSecrets",
        ],
    );

    let f = v.expect(
        &plane,
        &["-n", "crash"],
        "crash-loop",
        "Deployment",
        Some("crash"),
        "worker",
    );
    v.evidence_is(&f, "restartCount", "5");
    v.evidence_contains(
        &f,
        "lastState.terminated.exitCode",
        "127 (command not found",
    );
    v.evidence_is(&f, "lastState.terminated.reason", "Error");
    v.evidence_is(&f, "previous container log", "(not available)");
    v.fix_mentions(&f, &["logs worker-", "--previous"]);
    if let Some(f) = &f {
        let pods = evidence(f, "pods").unwrap_or_default();
        v.check(pods.split(", ").count() == 2, || {
            format!("crash: both pods of the Deployment in one finding: {f}")
        });
        let related = f["related"].to_string();
        v.check(related.contains("\"Service\""), || {
            format!("crash: the Service it leaves without endpoints is not linked: {f}")
        });
    }
    let (_, findings, _) = plane.json(&["-n", "crash"]);
    v.check(findings.len() == 1, || {
        format!("crash: one root cause expected (no Service finding), got {findings:?}")
    });

    let f = v.expect(
        &plane,
        &["-n", "oom"],
        "oom-killed",
        "Pod",
        Some("oom"),
        "hungry",
    );
    v.evidence_is(&f, "resources.limits.memory", "64Mi");
    v.evidence_is(&f, "lastState.terminated.exitCode", "137");
    v.fix_mentions(&f, &["--limits=memory=128Mi"]);

    let f = v.expect(
        &plane,
        &["-n", "readiness"],
        "readiness-probe-port",
        "Deployment",
        Some("readiness"),
        "api",
    );
    v.evidence_is(
        &f,
        "spec.template.spec.containers[name=app].readinessProbe.httpGet.port",
        "8080",
    );
    v.evidence_is(
        &f,
        "spec.template.spec.containers[name=app].readinessProbe.httpGet.path",
        "/healthz",
    );
    v.evidence_is(
        &f,
        "spec.template.spec.containers[name=app].ports",
        "80/TCP (http)",
    );
    v.fix_mentions(&f, &["readinessProbe.httpGet.port", "http"]);

    let f = v.expect(
        &plane,
        &["-n", "readiness-plain"],
        "readiness-probe-port",
        "Deployment",
        Some("readiness-plain"),
        "api",
    );
    v.evidence_is(
        &f,
        "spec.template.spec.containers[name=app].readinessProbe.httpGet.port",
        "8080",
    );

    let f = v.expect(
        &plane,
        &["-n", "svc-selector"],
        "service-selector-matches-no-pod",
        "Service",
        Some("svc-selector"),
        "web",
    );
    v.evidence_is(&f, "spec.selector", "app=wbe");
    if let Some(f) = &f {
        let shown = f["evidence"].to_string();
        v.check(shown.contains("app=web"), || {
            format!("svc-selector: the nearest pod's labels are not shown: {f}")
        });
    }
    v.fix_mentions(&f, &["\"app\":\"web\""]);

    let f = v.expect(
        &plane,
        &["-n", "svc-port"],
        "service-target-port",
        "Service",
        Some("svc-port"),
        "web",
    );
    v.evidence_is(&f, "spec.ports[0].targetPort", "8080");
    v.evidence_is(&f, "selected pods' containerPorts", "80/TCP (http)");
    v.fix_mentions(&f, &["/spec/ports/0/targetPort", "\"http\""]);

    let f = v.expect(
        &plane,
        &["-n", "svc-endpoints"],
        "service-no-ready-endpoints",
        "Service",
        Some("svc-endpoints"),
        "web",
    );
    v.evidence_contains(&f, "EndpointSlices ready endpoints", "0");
    v.fix_mentions(&f, &["describe pod web-"]);

    let f = v.expect(
        &plane,
        &["-n", "ingress-backend"],
        "ingress-backend-missing",
        "Ingress",
        Some("ingress-backend"),
        "web",
    );
    v.evidence_is(
        &f,
        "spec.rules[0].http.paths[0].backend.service.name",
        "missing",
    );
    v.fix_mentions(&f, &["create Service missing"]);
    let f = v.expect(
        &plane,
        &["-n", "ingress-port"],
        "ingress-backend-missing",
        "Ingress",
        Some("ingress-port"),
        "web",
    );
    v.evidence_is(
        &f,
        "spec.rules[0].http.paths[0].backend.service.port.number",
        "8080",
    );
    v.evidence_is(&f, "Service web spec.ports", "80 (http)");
    let f = v.expect(
        &plane,
        &["-n", "ingress-class"],
        "ingress-no-class",
        "Ingress",
        Some("ingress-class"),
        "web",
    );
    v.evidence_is(&f, "spec.ingressClassName", "nginx");
    v.fix_mentions(&f, &["ingressClassName\":\"lab\""]);
    let f = v.expect(
        &plane,
        &["-n", "ingress-default"],
        "ingress-no-class",
        "Ingress",
        Some("ingress-default"),
        "web",
    );
    v.evidence_is(&f, "default IngressClass", "(none)");
    let f = v.expect(
        &plane,
        &["-n", "ingress-controller"],
        "ingress-no-controller",
        "Ingress",
        Some("ingress-controller"),
        "web",
    );
    v.evidence_is(
        &f,
        "IngressClass lab spec.controller",
        "example.com/lab-ingress",
    );

    let f = v.expect(
        &plane,
        &["-n", "create-failed"],
        "pod-create-failed",
        "Deployment",
        Some("create-failed"),
        "web",
    );
    v.evidence_contains(&f, "message", "serviceaccount \"robot\" not found");
    v.fix_mentions(
        &f,
        &["kubectl -n create-failed create serviceaccount robot"],
    );
    let f = v.expect(
        &plane,
        &["-n", "ingress-tls"],
        "ingress-tls-secret-missing",
        "Ingress",
        Some("ingress-tls"),
        "web",
    );
    v.evidence_is(&f, "spec.tls[0].secretName", "web-tls");
    v.fix_mentions(&f, &["create secret tls web-tls"]);

    // --- States written as a kubelet would write them, with `kubectl patch
    // --subresource=status` on pods kwok made ready first: kwok leaves them as written.
    plane.namespace("patched");
    plane.apply(
        "patched",
        "apiVersion: v1
kind: Pod
metadata: {name: mounts}
spec:
  containers: [{name: app, image: echo-app:v1}]
  volumes: [{name: config, configMap: {name: web-config}}]
---
apiVersion: v1
kind: Pod
metadata: {name: pulls}
spec:
  containers: [{name: app, image: 'nginx:1.99-nope'}]
",
    );
    for pod in ["mounts", "pulls"] {
        plane.must(
            &[
                "wait",
                "-n",
                "patched",
                "--for=condition=Ready",
                &format!("pod/{pod}"),
                "--timeout=60s",
            ],
            None,
        );
    }
    plane.must(
        &[
            "patch", "-n", "patched", "pod", "mounts", "--subresource=status", "--type=merge", "-p",
            r#"{"status":{"phase":"Pending","conditions":[{"type":"Ready","status":"False","reason":"ContainersNotReady"}],"containerStatuses":[{"name":"app","image":"echo-app:v1","imageID":"","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}]}}"#,
        ],
        None,
    );
    plane.must(
        &["create", "-n", "patched", "-f", "-"],
        Some(
            "apiVersion: v1
kind: Event
metadata: {name: mounts.failedmount}
involvedObject: {kind: Pod, namespace: patched, name: mounts}
reason: FailedMount
type: Warning
message: 'MountVolume.SetUp failed for volume \"config\" : configmap \"web-config\" not found'
source: {component: kubelet}
lastTimestamp: '2026-01-01T00:00:00Z'
",
        ),
    );
    plane.must(
        &[
            "patch", "-n", "patched", "pod", "pulls", "--subresource=status", "--type=merge", "-p",
            r#"{"status":{"phase":"Pending","conditions":[{"type":"Ready","status":"False","reason":"ContainersNotReady"}],"containerStatuses":[{"name":"app","image":"nginx:1.99-nope","imageID":"","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ErrImagePull","message":"rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nginx:1.99-nope\": failed to resolve reference \"docker.io/library/nginx:1.99-nope\": docker.io/library/nginx:1.99-nope: not found"}}}]}}"#,
        ],
        None,
    );
    let f = v.expect(
        &plane,
        &["-n", "patched"],
        "container-config-error",
        "Pod",
        Some("patched"),
        "mounts",
    );
    v.evidence_contains(
        &f,
        "event FailedMount",
        "configmap \"web-config\" not found",
    );
    v.fix_mentions(&f, &["configmap web-config"]);
    let f = v.expect(
        &plane,
        &["-n", "patched"],
        "image-pull-failed",
        "Pod",
        Some("patched"),
        "pulls",
    );
    v.evidence_contains(&f, "registry message", "nginx:1.99-nope: not found");
    v.fix_mentions(&f, &["kubectl -n patched set image pod/pulls app="]);
    // Still as written a moment later: kwok did not make them ready again.
    std::thread::sleep(Duration::from_secs(2));
    let (_, findings, stdout) = plane.json(&["-n", "patched"]);
    v.check(findings.len() == 2, || {
        format!("patched: both states kept:\n{stdout}")
    });

    // --- Argo CD: a repository it cannot reach, for real; the other states as Argo CD records
    // them (making them for real needs a Git server; the loop test has one).
    match &argocd {
        Ok(_) => {
            plane.namespace("argo-dest");
            plane.must(
                &["apply", "-n", "argocd", "-f", "-"],
                Some(
                    "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: unreachable}
spec:
  project: default
  source: {repoURL: 'http://127.0.0.1:1/lab/iot.git', path: p3/confs, targetRevision: HEAD}
  destination: {server: 'https://kubernetes.default.svc', namespace: argo-dest}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
",
                ),
            );
            // Found through its destination namespace.
            let f = v.expect(
                &plane,
                &["-n", "argo-dest"],
                "application-repo-unreachable",
                "Application",
                Some("argocd"),
                "unreachable",
            );
            v.evidence_is(&f, "spec.source.repoURL", "http://127.0.0.1:1/lab/iot.git");
            v.evidence_contains(
                &f,
                "status.conditions[ComparisonError].message",
                "connection refused",
            );
            v.fix_mentions(&f, &["argocd.argoproj.io/refresh=hard", "argocd repo add"]);

            plane.namespace("argo-recorded");
            let recorded = [
                recorded_application("manual", false, "  sync: {status: OutOfSync, revision: 1a2b3c}
  health: {status: Missing}
  resources:
  - {group: apps, kind: Deployment, namespace: dev, name: playground, status: OutOfSync, health: {status: Missing}}
"),
                recorded_application("broken-sync", true, "  sync: {status: OutOfSync}
  health: {status: Missing}
  conditions:
  - {type: SyncError, message: 'Failed sync attempt to 1a2b3c: one or more objects failed to apply (dry run)'}
  operationState:
    phase: Failed
    message: 'one or more objects failed to apply, reason: Deployment.apps \"playground\" is invalid: spec.template.spec.containers[0].image: Required value'
    startedAt: '2026-01-01T00:00:00Z'
    operation: {sync: {revision: 1a2b3c}}
    syncResult:
      revision: 1a2b3c
      resources:
      - {group: apps, version: v1, kind: Deployment, namespace: dev, name: playground, status: SyncFailed, message: 'Deployment.apps \"playground\" is invalid: spec.template.spec.containers[0].image: Required value'}
"),
                recorded_application("degraded", true, "  sync: {status: Synced}
  health: {status: Degraded}
  resources:
  - {group: apps, kind: Deployment, namespace: dev, name: playground, status: Synced, health: {status: Degraded, message: 'Deployment \"playground\" exceeded its progress deadline'}}
"),
                recorded_application("bad-path", true, "  sync: {status: Unknown}
  conditions:
  - {type: ComparisonError, message: 'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = p3/nope: app path does not exist'}
"),
            ];
            plane.apply("argo-recorded", &recorded.join("---\n"));
            let f = v.expect(
                &plane,
                &["-n", "argo-recorded"],
                "application-out-of-sync",
                "Application",
                Some("argo-recorded"),
                "manual",
            );
            v.evidence_is(&f, "resource Deployment dev/playground", "OutOfSync");
            v.fix_mentions(&f, &["argocd app sync manual"]);
            let f = v.expect(
                &plane,
                &["-n", "argo-recorded"],
                "application-sync-error",
                "Application",
                Some("argo-recorded"),
                "broken-sync",
            );
            v.evidence_contains(&f, "status.operationState.message", "Required value");
            v.evidence_contains(&f, "syncResult Deployment dev/playground", "Required value");
            let f = v.expect(
                &plane,
                &["-n", "argo-recorded"],
                "application-degraded",
                "Application",
                Some("argo-recorded"),
                "degraded",
            );
            v.evidence_contains(
                &f,
                "resource Deployment dev/playground health",
                "progress deadline",
            );
            let f = v.expect(
                &plane,
                &["-n", "argo-recorded"],
                "application-comparison-error",
                "Application",
                Some("argo-recorded"),
                "bad-path",
            );
            v.evidence_contains(
                &f,
                "status.conditions[ComparisonError].message",
                "app path does not exist",
            );
            let (_, findings, _) = plane.json(&["-n", "argo-recorded"]);
            v.check(findings.len() == 4, || {
                format!("argo-recorded: one finding per Application, got {findings:?}")
            });
        }
        Err(reason) => common::skip(
            "diagnose_names_each_broken_state_on_a_real_control_plane (Argo CD part)",
            reason,
        ),
    }

    // --- Phase 2: a taint on the only node (after phase 1's pods were placed).
    plane.must(
        &["taint", "node", "kwok-node-0", "dedicated=gpu:NoSchedule"],
        None,
    );
    plane.namespace("taint");
    plane.apply(
        "taint",
        "apiVersion: v1
kind: Pod
metadata: {name: picky}
spec:
  containers: [{name: app, image: echo-app:v1}]
",
    );
    let f = v.expect(
        &plane,
        &["-n", "taint"],
        "pod-unschedulable-taint",
        "Pod",
        Some("taint"),
        "picky",
    );
    v.evidence_is(
        &f,
        "node kwok-node-0 spec.taints",
        "dedicated=gpu:NoSchedule",
    );
    // Admission's own tolerations (not-ready, unreachable) are there; none for the taint.
    v.evidence_contains(
        &f,
        "spec.tolerations",
        "node.kubernetes.io/not-ready:NoExecute",
    );
    if let Some(f) = &f {
        let tolerations = evidence(f, "spec.tolerations").unwrap_or_default();
        v.check(!tolerations.contains("dedicated"), || format!("taint: {f}"));
    }
    v.fix_mentions(
        &f,
        &[
            "kubectl taint node kwok-node-0 dedicated=gpu:NoSchedule-",
            "effect: NoSchedule",
        ],
    );
    plane.must(
        &["taint", "node", "kwok-node-0", "dedicated=gpu:NoSchedule-"],
        None,
    );

    // --- Phase 3: the cluster. Nodes no kubelet reports for (kwok manages only annotated
    // ones), tainted as node-lifecycle would so that nothing lands there; a cluster DNS that
    // is not ready. Cluster findings show in every namespace's diagnosis.
    plane.must(
        &["create", "-f", "-"],
        Some(
            "apiVersion: v1
kind: Node
metadata: {name: silent-node, labels: {kubernetes.io/hostname: silent-node}}
spec:
  taints: [{key: node.kubernetes.io/not-ready, effect: NoSchedule}]
---
apiVersion: v1
kind: Node
metadata: {name: pressed-node, labels: {kubernetes.io/hostname: pressed-node}}
spec:
  taints: [{key: node.kubernetes.io/memory-pressure, effect: NoSchedule}]
",
        ),
    );
    plane.must(
        &[
            "patch", "node", "pressed-node", "--subresource=status", "--type=merge", "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"},{"type":"MemoryPressure","status":"True","reason":"KubeletHasInsufficientMemory","message":"kubelet has insufficient memory available"}]}}"#,
        ],
        None,
    );
    let dns = deployment(
        "coredns",
        1,
        "kwok.iot-rs.dev/simulate: not-ready",
        &container("coredns/coredns:1.12.1", ""),
    )
    .replace(
        "metadata:\n  name: coredns\n",
        "metadata:\n  name: coredns\n  labels: {k8s-app: kube-dns}\n",
    );
    plane.apply("kube-system", &dns);
    let f = v.expect(
        &plane,
        &["-n", "clean"],
        "node-not-ready",
        "Node",
        None,
        "silent-node",
    );
    v.evidence_contains(&f, "status.conditions[Ready]", "not reported");
    v.fix_mentions(&f, &["kubectl delete node silent-node"]);
    let f = v.expect(
        &plane,
        &["-n", "clean"],
        "node-pressure",
        "Node",
        None,
        "pressed-node",
    );
    v.evidence_is(&f, "status.conditions[MemoryPressure].status", "True");
    let f = v.expect(
        &plane,
        &["-n", "clean"],
        "coredns-not-ready",
        "Deployment",
        Some("kube-system"),
        "coredns",
    );
    v.evidence_is(&f, "status.readyReplicas", "0");
    // In kube-system, the DNS pods' "not ready" is the DNS finding, said once.
    let (_, findings, _) = plane.json(&["-n", "kube-system"]);
    let about_dns = findings
        .iter()
        .filter(|f| is_about(f, "Deployment", Some("kube-system"), "coredns"))
        .count();
    v.check(about_dns == 1, || {
        format!("kube-system: one finding about coredns expected: {findings:?}")
    });

    // --- Every namespace at once names each of the above.
    let (code, all, stdout) = plane.json(&["-A"]);
    v.check(code == Some(1), || format!("-A exited {code:?}"));
    for (cause, ns, name) in [
        (
            "pod-unschedulable-insufficient-resources",
            "insufficient",
            "big",
        ),
        ("crash-loop", "crash", "worker"),
        ("service-target-port", "svc-port", "web"),
        ("ingress-no-controller", "ingress-controller", "web"),
        ("pvc-unbound", "pvc", "data"),
    ] {
        v.check(
            all.iter().any(|f| {
                f["cause"] == cause && f["object"]["namespace"] == ns && f["object"]["name"] == name
            }),
            || format!("-A does not name {cause} {ns}/{name}:\n{stdout}"),
        );
    }
    v.check(
        !all.iter().any(|f| f["object"]["namespace"] == "clean"),
        || format!("-A names something in the healthy namespace:\n{stdout}"),
    );

    // --- Text: one block per finding.
    let out = plane.diagnose(&["-n", "crash"]);
    let text = String::from_utf8_lossy(&out.stdout);
    v.check(out.status.code() == Some(1), || {
        format!("text exited {:?}", out.status.code())
    });
    v.check(
        text.starts_with("crash-loop: Deployment crash/worker\n"),
        || format!("text:\n{text}"),
    );
    v.check(
        text.contains("\n  restartCount = 5\n") && text.contains("\n  fix: "),
        || format!("text:\n{text}"),
    );

    // --- A cluster that cannot be read: one sentence, exit 3.
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["diagnose", "--kubeconfig"])
        .arg(plane.dir.join("no-such-kubeconfig"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    v.check(
        out.status.code() == Some(3) && err.starts_with("error: ") && err.lines().count() == 1,
        || {
            format!(
                "unreadable cluster: exit {:?}, stderr {err}",
                out.status.code()
            )
        },
    );

    // A usage error is clap's 2.
    let out = plane.diagnose(&["-n", "clean", "-A"]);
    v.check(out.status.code() == Some(2), || {
        format!("-n with -A exited {:?}", out.status.code())
    });

    assert!(
        v.0.is_empty(),
        "{} problem(s):\n{}",
        v.0.len(),
        v.0.join("\n\n")
    );
}
