{{/*
Labels that select an app's pods. They never change over a release's life (a Deployment's
selector is immutable), so the version stays out of them.
Call with (dict "root" $ "name" <app name>).
*/}}
{{- define "p2.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* Labels of every object and pod: the selector labels plus what describes the release. */}}
{{- define "p2.labels" -}}
{{ include "p2.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | quote }}
app.kubernetes.io/component: web
app.kubernetes.io/part-of: inception-of-things
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "p2.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
{{- end }}

{{/*
Refuses values that would render a broken lab: a grace period shorter than echo-app's
shutdown delay plus drain (Kubernetes would kill in-flight requests), no catch-all app or more
than one, and two apps claiming the same host.
*/}}
{{- define "p2.validate" -}}
{{- $needed := add .Values.shutdownDelaySeconds .Values.drainTimeoutSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) is shorter than shutdownDelaySeconds + drainTimeoutSeconds (%v); raise it so that rolling updates lose no request" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- $catchAll := list }}
{{- $hosts := dict }}
{{- range $name, $app := .Values.apps }}
{{- if $app.host }}
{{- if hasKey $hosts $app.host }}
{{- fail (printf "apps %s and %s both claim host %q; give each app its own host" (get $hosts $app.host) $name $app.host) }}
{{- end }}
{{- $_ := set $hosts $app.host $name }}
{{- else }}
{{- $catchAll = append $catchAll $name }}
{{- end }}
{{- end }}
{{- if ne (len $catchAll) 1 }}
{{- fail (printf "exactly one app must have host \"\" to receive every other Host header, found %d (%s); set host: \"\" on one app" (len $catchAll) (join ", " $catchAll)) }}
{{- end }}
{{- end }}
