{{/*
Labels that select the playground's pods. A Deployment's selector is immutable, so the version
stays out of them.
*/}}
{{- define "p3.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of every object and pod: the selector labels plus what describes the release. No
app.kubernetes.io/version: the tag must appear on the image line only, so that gitops-bumper's
one-line edit of p3/confs keeps it equal to this chart's render.
*/}}
{{- define "p3.labels" -}}
{{ include "p3.selectorLabels" . }}
app.kubernetes.io/component: web
app.kubernetes.io/part-of: inception-of-things
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
Refuses a grace period shorter than echo-app's shutdown delay plus drain: Kubernetes would kill
requests still in flight during the v1 -> v2 rollout.
*/}}
{{- define "p3.validate" -}}
{{- $needed := add .Values.shutdownDelaySeconds .Values.drainTimeoutSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) is shorter than shutdownDelaySeconds + drainTimeoutSeconds (%v); raise it so that rolling updates lose no request" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- end }}
