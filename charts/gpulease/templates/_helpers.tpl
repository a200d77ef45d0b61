{{/* Names match the kustomize bundle's, so both installs look alike to users and to config/policies. */}}
{{- define "gpulease.name" -}}gpulease-operator{{- end -}}

{{- define "gpulease.labels" -}}
app.kubernetes.io/name: gpulease
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gpulease.selectorLabels" -}}
app.kubernetes.io/name: gpulease
app.kubernetes.io/component: operator
{{- end -}}

{{- define "gpulease.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "gpulease.serviceAccountUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "gpulease.name" . }}
{{- end -}}

{{/* The operator's configuration file: values.config plus what other values decide. */}}
{{- define "gpulease.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "metricsPort" (int .Values.metrics.port) -}}
{{- $_ := set $config "leaderElection" (dict
  "enabled" .Values.leaderElection.enabled
  "namespace" .Release.Namespace
  "name" (include "gpulease.name" .)
  "leaseDuration" .Values.leaderElection.leaseDuration
  "renewDeadline" .Values.leaderElection.renewDeadline
  "retryPeriod" .Values.leaderElection.retryPeriod) -}}
{{- toYaml $config -}}
{{- end -}}
