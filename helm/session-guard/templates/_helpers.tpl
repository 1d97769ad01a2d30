{{/* The chart name, overridable. */}}
{{- define "session-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name: the release name, unless it already holds the chart name. */}}
{{- define "session-guard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "session-guard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "session-guard.labels" -}}
helm.sh/chart: {{ include "session-guard.chart" . }}
{{ include "session-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: session-guard
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "session-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "session-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels that select the operator's pods only (not the hook's or the test's). */}}
{{- define "session-guard.operatorSelectorLabels" -}}
{{ include "session-guard.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "session-guard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "session-guard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "session-guard.operatorImage" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "session-guard.guardImage" -}}
{{- printf "%s:%s" .Values.guard.image.repository (default .Chart.AppVersion .Values.guard.image.tag) }}
{{- end }}

{{/* Whether the operator runs with leader election: only when there is someone to elect. */}}
{{- define "session-guard.leaderElection" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ else }}false{{ end }}
{{- end }}

{{/* The Lease the operator's replicas elect their leader with. */}}
{{- define "session-guard.leaseName" -}}
{{- default "session-guard-operator" .Values.leaseName }}
{{- end }}

{{/* The name of the metrics Service; the helm test asks it for /healthz. */}}
{{- define "session-guard.metricsServiceName" -}}
{{- printf "%s-metrics" (include "session-guard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Pod scheduling and hardening shared by every pod the chart creates. */}}
{{- define "session-guard.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
