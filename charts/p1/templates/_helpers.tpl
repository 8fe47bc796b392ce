{{/*
Labels that select node-echo's pods. A DaemonSet's selector is immutable, so the version stays
out of them.
*/}}
{{- define "p1.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object and pod: the selector labels plus what describes the release. */}}
{{- define "p1.labels" -}}
{{ include "p1.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/component: web
app.kubernetes.io/part-of: inception-of-things
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
Refuses a grace period shorter than echo-app's shutdown delay plus drain: Kubernetes would kill
requests still in flight.
*/}}
{{- define "p1.validate" -}}
{{- $needed := add .Values.shutdownDelaySeconds .Values.drainTimeoutSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) is shorter than shutdownDelaySeconds + drainTimeoutSeconds (%v); raise it so that updates lose no request" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- end }}
