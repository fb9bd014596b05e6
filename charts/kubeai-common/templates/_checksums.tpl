{{/*
Pod annotations that roll a workload when the Secrets or ConfigMaps its pods read change.
Call with (dict "own" <dict of checksums of the chart's own rendered Secrets/ConfigMaps, by
name> "checksums" .Values.checksums "podAnnotations" <the chart's extra pod annotations>).
Each checksum becomes "checksum/<name>": the chart's own ones are the sha256 of the rendered
template (the usual Helm pattern), `checksums` carries those of Secrets made outside the chart
(the deployer computes them from the data it writes). Renders a YAML mapping, or nothing when
empty; podAnnotations win over a checksum of the same key.
*/}}
{{- define "kubeai-common.podAnnotations" -}}
{{- $out := dict }}
{{- range $name, $sum := .own }}
{{- $_ := set $out (printf "checksum/%s" $name) $sum }}
{{- end }}
{{- range $name, $sum := .checksums }}
{{- $_ := set $out (printf "checksum/%s" $name) $sum }}
{{- end }}
{{- range $key, $value := .podAnnotations }}
{{- $_ := set $out $key $value }}
{{- end }}
{{- with $out }}
{{- toYaml . }}
{{- end }}
{{- end }}
