{{/*
Names. Kubernetes names and label values are limited to 63 characters: every generated name is
cut to that length with a trailing "-" removed. Component names keep their suffix whole by
cutting the prefix to leave room for it.
*/}}

{{/* Prefix of every resource: fullnameOverride, the release name when it already contains the
chart name, else "<release>-<chart>". */}}
{{- define "kubeai-glue.fullname" -}}
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

{{/* Name of the registry's Deployment, Service, claim and secret: "<prefix>-registry". */}}
{{- define "kubeai-glue.registryName" -}}
{{- printf "%s-registry" (include "kubeai-glue.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "kubeai-glue.labels" -}}
helm.sh/chart: {{ include "kubeai-common.chart" . }}
{{ include "kubeai-glue.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubeai
{{- end }}

{{/* Labels that select the chart's pods (stable across upgrades). */}}
{{- define "kubeai-glue.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeai-common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of the registry's objects. */}}
{{- define "kubeai-glue.registryLabels" -}}
{{ include "kubeai-glue.labels" . }}
app.kubernetes.io/component: model-registry
{{- end }}

{{/* Selector of the registry's pods. */}}
{{- define "kubeai-glue.registrySelectorLabels" -}}
{{ include "kubeai-glue.selectorLabels" . }}
app.kubernetes.io/component: model-registry
{{- end }}

{{/* The glue image reference. repository and tag are required; "latest" is refused even where
the schema is bypassed. */}}
{{- define "kubeai-glue.image" -}}
{{- $repository := required "image.repository is required: the glue image built from this repository's Dockerfile, e.g. ghcr.io/acme/kubeai-glue" .Values.image.repository }}
{{- $tag := required "image.tag is required: a pinned tag of the glue image (CI tags it with the git sha); 'latest' is not allowed" .Values.image.tag }}
{{- if eq (lower $tag) "latest" }}
{{- fail "image.tag must be a pinned tag, not 'latest'" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" $repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the PostgreSQL DSN. */}}
{{- define "kubeai-glue.databaseSecretName" -}}
{{- default (include "kubeai-glue.registryName" .) .Values.database.postgresql.existingSecret }}
{{- end }}

{{/* Name of the claim holding the SQLite database. */}}
{{- define "kubeai-glue.claimName" -}}
{{- default (include "kubeai-glue.registryName" .) .Values.persistence.existingClaim }}
{{- end }}

{{/* Cross-field checks the schema cannot express; each failure names the keys involved. */}}
{{- define "kubeai-glue.validate" -}}
{{- if and (eq .Values.database.type "sqlite") (gt (int .Values.registry.replicas) 1) }}
{{- fail (printf "registry.replicas is %d but database.type is sqlite: SQLite on one volume allows exactly 1 replica; set database.type=postgresql for more" (int .Values.registry.replicas)) }}
{{- end }}
{{- if and (eq .Values.database.type "postgresql") (not .Values.database.postgresql.existingSecret) (not .Values.database.postgresql.url) }}
{{- fail "database.type is postgresql: set database.postgresql.existingSecret (preferred) or database.postgresql.url" }}
{{- end }}
{{- include "kubeai-common.validateArtifacts" .Values.artifacts }}
{{- end }}
