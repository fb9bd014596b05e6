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

{{/* Name of the lifecycle controller's Deployment, Service, ServiceAccount and Lease:
"<prefix>-controller". */}}
{{- define "kubeai-glue.controllerName" -}}
{{- printf "%s-controller" (include "kubeai-glue.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{/* Name of a cluster-scoped object of the controller: "<namespace>-<prefix>-controller", so
releases in different namespaces never share (and overwrite) one. */}}
{{- define "kubeai-glue.controllerClusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "kubeai-glue.controllerName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The controller's ServiceAccount (see kubeai-common.serviceAccountName). */}}
{{- define "kubeai-glue.controllerServiceAccountName" -}}
{{- include "kubeai-common.serviceAccountName" (dict "serviceAccount" .Values.controller.serviceAccount "fullname" (include "kubeai-glue.controllerName" .)) }}
{{- end }}

{{/* The Lease the controller replicas elect their leader with. */}}
{{- define "kubeai-glue.controllerLeaseName" -}}
{{- default (include "kubeai-glue.controllerName" .) .Values.controller.leaseName }}
{{- end }}

{{/* In-cluster URL of the chart's own registry Service. */}}
{{- define "kubeai-glue.registryUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "kubeai-glue.registryName" .) .Release.Namespace (int .Values.registry.service.port) }}
{{- end }}

{{/* registry.auth.controllers as the registry reads it: the listed accounts, plus the chart's
own controller ("<namespace>/<account>") when it runs. */}}
{{- define "kubeai-glue.registryControllers" -}}
{{- $controllers := .Values.registry.auth.controllers | default list }}
{{- if .Values.controller.enabled }}
{{- $controllers = append $controllers (printf "%s/%s" .Release.Namespace (include "kubeai-glue.controllerServiceAccountName" .)) }}
{{- end }}
{{- $controllers | uniq | toJson }}
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

{{/* Labels of the controller's objects. */}}
{{- define "kubeai-glue.controllerLabels" -}}
{{ include "kubeai-glue.labels" . }}
app.kubernetes.io/component: lifecycle-controller
{{- end }}

{{/* Selector of the controller's pods. */}}
{{- define "kubeai-glue.controllerSelectorLabels" -}}
{{ include "kubeai-glue.selectorLabels" . }}
app.kubernetes.io/component: lifecycle-controller
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
{{- include "kubeai-glue.validateAuth" . }}
{{- end }}

{{/* Where the registry's auth files are mounted (static tokens, the OIDC issuer's CA). */}}
{{- define "kubeai-glue.staticTokensDir" -}}/etc/kubeai/registry-auth/static-tokens{{- end }}
{{- define "kubeai-glue.oidcCaDir" -}}/etc/kubeai/registry-auth/oidc-ca{{- end }}

{{/* Refuse a registry without an authenticator (it would exit: it binds 0.0.0.0), and a
protected /metrics that the ServiceMonitor could not scrape. */}}
{{- define "kubeai-glue.validateAuth" -}}
{{- $auth := .Values.registry.auth }}
{{- if not (or $auth.kubernetes.enabled $auth.oidc.issuer $auth.staticTokens.existingSecret) }}
{{- fail "registry.auth: no authenticator configured; the registry listens on 0.0.0.0 and refuses to start open there: set registry.auth.kubernetes.enabled=true (TokenReview), registry.auth.oidc.issuer or registry.auth.staticTokens.existingSecret" }}
{{- end }}
{{- if and .Values.controller.enabled (not $auth.kubernetes.enabled) }}
{{- fail "controller.enabled needs registry.auth.kubernetes.enabled: the lifecycle controller presents a projected ServiceAccount token that the registry checks with TokenReview; enable it or set controller.enabled=false" }}
{{- end }}
{{- if and .Values.controller.enabled (eq (int .Values.controller.metricsPort) (int .Values.controller.healthPort)) }}
{{- fail (printf "controller.metricsPort and controller.healthPort are both %d: the controller serves /metrics and /healthz on two ports" (int .Values.controller.metricsPort)) }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled $auth.protectMetrics (not .Values.serviceMonitor.bearerTokenSecret.name) }}
{{- fail "registry.auth.protectMetrics is true and serviceMonitor.enabled: set serviceMonitor.bearerTokenSecret.name (a Secret holding a static token of the registry, see registry.auth.staticTokens) so Prometheus can scrape /metrics" }}
{{- end }}
{{- end }}

{{/* KUBEAI_REGISTRY_AUTH__* of the registry container (glue/model_registry/auth/settings.py):
scalars as strings, lists and objects as JSON. */}}
{{- define "kubeai-glue.authEnv" -}}
{{- $auth := .Values.registry.auth }}
{{- $p := "KUBEAI_REGISTRY_AUTH__" }}
- name: {{ $p }}KUBERNETES__ENABLED
  value: {{ $auth.kubernetes.enabled | quote }}
{{- if $auth.kubernetes.enabled }}
- name: {{ $p }}KUBERNETES__AUDIENCES
  value: {{ toJson $auth.kubernetes.audiences | quote }}
- name: {{ $p }}KUBERNETES__CACHE_SECONDS
  value: {{ $auth.kubernetes.cacheSeconds | quote }}
{{- end }}
{{- with $auth.oidc }}
{{- if .issuer }}
- name: {{ $p }}OIDC__ISSUER
  value: {{ .issuer | quote }}
- name: {{ $p }}OIDC__AUDIENCE
  value: {{ .audience | quote }}
- name: {{ $p }}OIDC__USERNAME_CLAIM
  value: {{ .usernameClaim | quote }}
- name: {{ $p }}OIDC__GROUPS_CLAIM
  value: {{ .groupsClaim | quote }}
- name: {{ $p }}OIDC__USERNAME_PREFIX
  value: {{ .usernamePrefix | quote }}
- name: {{ $p }}OIDC__GROUPS_PREFIX
  value: {{ .groupsPrefix | quote }}
{{- if .caConfigMap }}
- name: {{ $p }}OIDC__CA_FILE
  value: {{ printf "%s/%s" (include "kubeai-glue.oidcCaDir" $) .caConfigMapKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if $auth.staticTokens.existingSecret }}
- name: {{ $p }}STATIC_TOKENS_FILE
  value: {{ printf "%s/%s" (include "kubeai-glue.staticTokensDir" .) $auth.staticTokens.key | quote }}
{{- end }}
- name: {{ $p }}ADMINS
  value: {{ dict "users" ($auth.admins.users | default list) "groups" ($auth.admins.groups | default list) | toJson | quote }}
- name: {{ $p }}BINDINGS
  value: {{ $auth.bindings | default list | toJson | quote }}
- name: {{ $p }}SERVICE_ACCOUNT_ROLE
  value: {{ $auth.serviceAccountRole | quote }}
- name: {{ $p }}SERVICE_ACCOUNT_ROLES
  value: {{ $auth.serviceAccountRoles | default dict | toJson | quote }}
- name: {{ $p }}CONTROLLERS
  value: {{ include "kubeai-glue.registryControllers" . | quote }}
- name: {{ $p }}PROTECT_METRICS
  value: {{ $auth.protectMetrics | quote }}
- name: {{ $p }}PROTECT_DOCS
  value: {{ $auth.protectDocs | quote }}
{{- end }}

{{/* Volume mounts of the auth files (none when unused). */}}
{{- define "kubeai-glue.authVolumeMounts" -}}
{{- $auth := .Values.registry.auth }}
{{- if $auth.staticTokens.existingSecret }}
- name: static-tokens
  mountPath: {{ include "kubeai-glue.staticTokensDir" . }}
  readOnly: true
{{- end }}
{{- if and $auth.oidc.issuer $auth.oidc.caConfigMap }}
- name: oidc-ca
  mountPath: {{ include "kubeai-glue.oidcCaDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes of the auth files: only the keys the registry reads, read-only. */}}
{{- define "kubeai-glue.authVolumes" -}}
{{- $auth := .Values.registry.auth }}
{{- with $auth.staticTokens }}
{{- if .existingSecret }}
- name: static-tokens
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- end }}
{{- with $auth.oidc }}
{{- if and .issuer .caConfigMap }}
- name: oidc-ca
  configMap:
    name: {{ .caConfigMap }}
    defaultMode: 0444
    items:
      - key: {{ .caConfigMapKey }}
        path: {{ .caConfigMapKey }}
{{- end }}
{{- end }}
{{- end }}
