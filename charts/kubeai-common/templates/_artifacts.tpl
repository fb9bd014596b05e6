{{/*
The artifact store (values key `artifacts`, the same block in every KubeAI chart; its schema is
definitions.artifacts). Models and datasets live in S3 or an S3-compatible service, Alibaba
Cloud OSS, GCS, or under a local root on a claim mounted read-only.
*/}}

{{/*
Environment of the artifact store settings (glue.artifacts.settings.ArtifactSettings) under a
prefix, e.g. KUBEAI_REGISTRY_ARTIFACTS__ or KUBEAI_AGENT_ARTIFACTS__. Call with
(dict "prefix" ... "artifacts" .Values.artifacts). Only values that are set become variables,
so the services' own defaults apply otherwise.
*/}}
{{- define "kubeai-common.artifactEnv" -}}
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

{{/* Volume mounts of the artifact store (local root claim, GCS key); call with
.Values.artifacts. */}}
{{- define "kubeai-common.artifactVolumeMounts" -}}
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
{{- define "kubeai-common.artifactVolumes" -}}
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

{{/* Checks of the artifacts block the schema cannot express; each failure names the keys
involved. Call with .Values.artifacts. */}}
{{- define "kubeai-common.validateArtifacts" -}}
{{- if and (has "file" .allowedSchemes) (not .local.root) }}
{{- fail "artifacts.allowedSchemes contains file: set artifacts.local.root (and usually artifacts.local.existingClaim)" }}
{{- end }}
{{- if and .local.existingClaim (not .local.root) }}
{{- fail "artifacts.local.existingClaim is set: set artifacts.local.root, the directory it is mounted at" }}
{{- end }}
{{- end }}
