{{/*
Names shared by the KubeAI charts; call each with the chart's root context ("."), so .Chart and
.Values are the calling chart's. Kubernetes names and label values are limited to 63 characters:
every generated name is cut to that length with a trailing "-" removed.
*/}}

{{/* The chart's name, or nameOverride (the app.kubernetes.io/name label). */}}
{{- define "kubeai-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "name-version" for the helm.sh/chart label ("+" is not allowed in label values). */}}
{{- define "kubeai-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ServiceAccount pods run as: serviceAccount.name, else "fullname" when the chart creates
the account, else "default". Call with (dict "serviceAccount" .Values.serviceAccount "fullname"
(include "<chart>.fullname" .)). */}}
{{- define "kubeai-common.serviceAccountName" -}}
{{- if .serviceAccount.create }}
{{- default .fullname .serviceAccount.name }}
{{- else }}
{{- default "default" .serviceAccount.name }}
{{- end }}
{{- end }}
