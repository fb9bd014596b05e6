{{/*
Names. Kubernetes names and label values are limited to 63 characters: every generated name is
cut to that length with a trailing "-" removed. Component names keep their suffix whole by
cutting the prefix to leave room for it.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "kubeai-glue.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

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

{{/* "name-version" for the helm.sh/chart label ("+" is not allowed in label values). */}}
{{- define "kubeai-glue.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "kubeai-glue.labels" -}}
helm.sh/chart: {{ include "kubeai-glue.chart" . }}
{{ include "kubeai-glue.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubeai
{{- end }}

{{/* Labels that select the chart's pods (stable across upgrades). */}}
{{- define "kubeai-glue.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeai-glue.name" . }}
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

{{/* The ServiceAccount the registry runs as. */}}
{{- define "kubeai-glue.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubeai-glue.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
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

{{/*
Environment of the artifact store settings (glue.artifacts.settings.ArtifactSettings) under a
prefix, e.g. KUBEAI_REGISTRY_ARTIFACTS__. Call with (dict "prefix" ... "artifacts" ...).
Only values that are set become variables, so the services' own defaults apply otherwise.
*/}}
{{- define "kubeai-glue.artifactEnv" -}}
{{- $p := .prefix }}
{{- $a := .artifacts }}
- name: {{ $p }}ALLOWED_SCHEMES
  value: {{ toJson $a.allowedSchemes | quote }}
{{- with $a.local.root }}
- name: {{ $p }}LOCAL_ROOT
  value: {{ . | quote }}
{{- end }}
{{- range $backend := list "s3" "oss" }}
{{- $b := index $a $backend }}
{{- $up := upper $backend }}
{{- with $b.endpointUrl }}
- name: {{ $p }}{{ $up }}__ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with $b.region }}
- name: {{ $p }}{{ $up }}__REGION
  value: {{ . | quote }}
{{- end }}
{{- with $b.addressingStyle }}
- name: {{ $p }}{{ $up }}__ADDRESSING_STYLE
  value: {{ . | quote }}
{{- end }}
{{- if $b.existingSecret }}
- name: {{ $p }}{{ $up }}__ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $b.existingSecret }}
      key: {{ $b.accessKeyIdKey }}
- name: {{ $p }}{{ $up }}__SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $b.existingSecret }}
      key: {{ $b.secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- with $a.gcs.project }}
- name: {{ $p }}GCS__PROJECT
  value: {{ . | quote }}
{{- end }}
{{- if $a.gcs.existingSecret }}
- name: {{ $p }}GCS__TOKEN
  value: {{ printf "/var/run/secrets/kubeai/gcs/%s" $a.gcs.keyFileKey | quote }}
{{- else if $a.gcs.token }}
- name: {{ $p }}GCS__TOKEN
  value: {{ $a.gcs.token | quote }}
{{- end }}
{{- end }}

{{/* Volume mounts of the artifact store (local root claim, GCS key); call with .Values.artifacts. */}}
{{- define "kubeai-glue.artifactVolumeMounts" -}}
{{- if .local.existingClaim }}
- name: artifacts
  mountPath: {{ .local.root }}
  readOnly: true
{{- end }}
{{- if .gcs.existingSecret }}
- name: gcs-key
  mountPath: /var/run/secrets/kubeai/gcs
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes of the artifact store; call with .Values.artifacts. */}}
{{- define "kubeai-glue.artifactVolumes" -}}
{{- if .local.existingClaim }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ .local.existingClaim }}
    readOnly: true
{{- end }}
{{- if .gcs.existingSecret }}
- name: gcs-key
  secret:
    secretName: {{ .gcs.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .gcs.keyFileKey }}
        path: {{ .gcs.keyFileKey }}
{{- end }}
{{- end }}

{{/* Cross-field checks the schema cannot express; each failure names the keys involved. */}}
{{- define "kubeai-glue.validate" -}}
{{- if and (eq .Values.database.type "sqlite") (gt (int .Values.registry.replicas) 1) }}
{{- fail (printf "registry.replicas is %d but database.type is sqlite: SQLite on one volume allows exactly 1 replica; set database.type=postgresql for more" (int .Values.registry.replicas)) }}
{{- end }}
{{- if and (eq .Values.database.type "postgresql") (not .Values.database.postgresql.existingSecret) (not .Values.database.postgresql.url) }}
{{- fail "database.type is postgresql: set database.postgresql.existingSecret (preferred) or database.postgresql.url" }}
{{- end }}
{{- if and (has "file" .Values.artifacts.allowedSchemes) (not .Values.artifacts.local.root) }}
{{- fail "artifacts.allowedSchemes contains file: set artifacts.local.root (and usually artifacts.local.existingClaim)" }}
{{- end }}
{{- if and .Values.artifacts.local.existingClaim (not .Values.artifacts.local.root) }}
{{- fail "artifacts.local.existingClaim is set: set artifacts.local.root, the directory it is mounted at" }}
{{- end }}
{{- end }}
