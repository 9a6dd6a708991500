{{/*
The chart name, or nameOverride.
*/}}
{{- define "headway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified name of the release's objects. It is cut to 55 characters so that
suffixes such as "-migrate" keep names within the 63-character limit of labels and DNS.
*/}}
{{- define "headway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "headway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "headway.labels" -}}
helm.sh/chart: {{ include "headway.chart" . }}
{{ include "headway.selectorLabels" . }}
app.kubernetes.io/version: {{ include "headway.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the release's pods.
*/}}
{{- define "headway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "headway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels that select the server pods only. The component label keeps the migration Job's
pods out of the Service, the PodDisruptionBudget and the topology spread.
*/}}
{{- define "headway.serverSelectorLabels" -}}
{{ include "headway.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "headway.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "headway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "headway.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Formats a number as decimal text: whole numbers without a fraction or exponent (1000000,
not 1e+06), others as Go prints them (0.5).
*/}}
{{- define "headway.decimal" -}}
{{- if eq (float64 (int64 .)) (float64 .) }}
{{- int64 . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/*
HEADWAY_DATABASE_URL from the existing database Secret, shared by the server and the
migration Job.
*/}}
{{- define "headway.databaseUrlEnv" -}}
- name: HEADWAY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret.name }}
      key: {{ .Values.database.existingSecret.key }}
{{- end }}

{{/*
The pod-level settings that the server pods and the migration Job's pods share.
*/}}
{{- define "headway.podCommon" -}}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Cross-field rules that values.schema.json cannot express. deployment.yaml, which every
release renders, includes this check.
*/}}
{{- define "headway.validate" -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%v) is greater than autoscaling.maxReplicas (%v). Lower minReplicas or raise maxReplicas." .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
{{- /* The kubelet sends SIGKILL when terminationGracePeriodSeconds have passed since the
preStop sleep began, so the sleep, the shutdown delay and the grace period must end before. */}}
{{- $stopSeconds := add (int .Values.preStopSleepSeconds) (int .Values.shutdown.delaySeconds) (int .Values.shutdown.graceSeconds) }}
{{- if ge (int $stopSeconds) (int .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "preStopSleepSeconds (%v) + shutdown.delaySeconds (%v) + shutdown.graceSeconds (%v) = %v must be less than terminationGracePeriodSeconds (%v), or the pod is killed before requests in flight finish. Lower one of the three or raise terminationGracePeriodSeconds." .Values.preStopSleepSeconds .Values.shutdown.delaySeconds .Values.shutdown.graceSeconds $stopSeconds .Values.terminationGracePeriodSeconds) }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- $min := .Values.podDisruptionBudget.minAvailable }}
{{- $max := .Values.podDisruptionBudget.maxUnavailable }}
{{- if not (or (kindIs "invalid" $min) (kindIs "invalid" $max)) }}
{{- fail "podDisruptionBudget: set only one of minAvailable and maxUnavailable" }}
{{- end }}
{{- end }}
{{- end }}
