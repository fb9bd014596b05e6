{{/*
Names. Kubernetes names and label values are limited to 63 characters: every generated name is
cut to that length with a trailing "-" removed.
*/}}

{{/* Name of every resource: fullnameOverride, else the release name. One release is one
inference service, so its Service is simply "<release>.<namespace>". */}}
{{- define "triton-inference.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The registry's name of this inference service: registry.service, else the release name. */}}
{{- define "triton-inference.serviceName" -}}
{{- default .Release.Name .Values.registry.service }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "triton-inference.labels" -}}
helm.sh/chart: {{ include "kubeai-common.chart" . }}
{{ include "triton-inference.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: inference-service
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubeai
kubeai.dev/inference-service: {{ include "triton-inference.serviceName" . }}
{{- end }}

{{/* Labels that select the service's pods (stable across upgrades). */}}
{{- define "triton-inference.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeai-common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* An image reference from an image block; call with (dict "image" ... "key" "agent.image").
repository and tag are required and "latest" is refused even where the schema is bypassed. */}}
{{- define "triton-inference.image" -}}
{{- $repository := required (printf "%s.repository is required" .key) .image.repository }}
{{- $tag := required (printf "%s.tag is required: a pinned image tag ('latest' is not allowed)" .key) .image.tag }}
{{- if eq (lower $tag) "latest" }}
{{- fail (printf "%s.tag must be a pinned tag, not 'latest'" .key) }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" $repository $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* Resources of the tritonserver container: tritonserver.resources plus gpu.count GPUs. */}}
{{- define "triton-inference.tritonResources" -}}
{{- $resources := deepCopy (default (dict) .Values.tritonserver.resources) }}
{{- if gt (int .Values.gpu.count) 0 }}
{{- $gpus := dict .Values.gpu.resourceName (int .Values.gpu.count) }}
{{- $_ := set $resources "limits" (merge (deepCopy $gpus) (default (dict) $resources.limits)) }}
{{- $_ := set $resources "requests" (merge (deepCopy $gpus) (default (dict) $resources.requests)) }}
{{- end }}
{{- toYaml $resources }}
{{- end }}

{{/* Tolerations of the pods: tolerations plus gpu.tolerations when GPUs are requested. */}}
{{- define "triton-inference.tolerations" -}}
{{- $tolerations := .Values.tolerations }}
{{- if gt (int .Values.gpu.count) 0 }}
{{- $tolerations = concat .Values.gpu.tolerations $tolerations }}
{{- end }}
{{- with $tolerations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* Node selector of the pods: nodeSelector plus gpu.nodeSelector when GPUs are requested. */}}
{{- define "triton-inference.nodeSelector" -}}
{{- $selector := deepCopy (default (dict) .Values.nodeSelector) }}
{{- if gt (int .Values.gpu.count) 0 }}
{{- $selector = merge $selector (deepCopy (default (dict) .Values.gpu.nodeSelector)) }}
{{- end }}
{{- with $selector }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* Cross-field checks the schema cannot express; each failure names the keys involved. */}}
{{- define "triton-inference.validate" -}}
{{- $service := include "triton-inference.serviceName" . }}
{{- if or (gt (len $service) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $service)) }}
{{- fail (printf "registry.service %q (default: the release name) must be a DNS-1123 label of at most 63 characters: lower-case letters, digits and '-'" $service) }}
{{- end }}
{{- include "kubeai-common.validateArtifacts" .Values.artifacts }}
{{- if has .Values.artifacts.local.root (list "/models" "/tmp" "/dev/shm") }}
{{- fail (printf "artifacts.local.root %s collides with a directory of the pod (/models, /tmp, /dev/shm)" .Values.artifacts.local.root) }}
{{- end }}
{{- range .Values.tritonserver.extraArgs }}
{{- $flag := regexReplaceAll "=.*$" . "" }}
{{- if has $flag (list "--model-repository" "--model-store" "--model-control-mode" "--load-model" "--http-port" "--grpc-port" "--metrics-port" "--strict-readiness" "--exit-timeout-secs" "--log-verbose") }}
{{- fail (printf "tritonserver.extraArgs must not contain %s: the chart sets it (see tritonserver.* values)" $flag) }}
{{- end }}
{{- if or (has $flag (list "--allow-metrics" "--allow-http" "--allow-grpc")) (hasPrefix "--metrics-config=summary_latencies=" .) }}
{{- fail (printf "tritonserver.extraArgs must not contain %s: the serving agent loads models over tritonserver's gRPC endpoint, probes it over HTTP and reads its metrics with per-version latency summaries (the canary gate judges their p99)" .) }}
{{- end }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and (eq (int .Values.autoscaling.targetCPUUtilizationPercentage) 0) (eq (int .Values.autoscaling.targetMemoryUtilizationPercentage) 0) }}
{{- fail "autoscaling.enabled is true but both autoscaling.targetCPUUtilizationPercentage and autoscaling.targetMemoryUtilizationPercentage are 0: set one, or autoscaling.enabled=false" }}
{{- end }}
{{- range $metric := list "cpu" "memory" }}
{{- $target := ternary $.Values.autoscaling.targetCPUUtilizationPercentage $.Values.autoscaling.targetMemoryUtilizationPercentage (eq $metric "cpu") }}
{{- if gt (int $target) 0 }}
{{- $triton := dig "requests" $metric "" ($.Values.tritonserver.resources | default dict) }}
{{- $agent := dig "requests" $metric "" ($.Values.agent.resources | default dict) }}
{{- if or (not $triton) (not $agent) }}
{{- fail (printf "autoscaling on %s utilisation needs tritonserver.resources.requests.%s and agent.resources.requests.%s (utilisation is a percentage of the requests)" $metric $metric $metric) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- $needed := add (int .Values.tritonserver.preStopSleepSeconds) (int .Values.tritonserver.exitTimeoutSeconds) }}
{{- if lt $grace (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least tritonserver.preStopSleepSeconds + tritonserver.exitTimeoutSeconds (%d), or in-flight requests are cut off" $grace (int $needed)) }}
{{- end }}
{{- end }}
