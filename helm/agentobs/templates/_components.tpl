{{/* The enabled components, each with its port, for the generic templates
(ServiceAccounts, Services, ServiceMonitors, NetworkPolicies). Emits YAML:
a list of {component, values, port, metricsPort, job}. */}}
{{- define "agentobs.components" -}}
{{- $out := list }}
{{- if .Values.indexer.enabled }}
{{- $out = append $out (dict "component" "indexer" "values" "indexer" "port" .Values.indexer.port "metricsPort" "http" "job" "agentobs-indexer") }}
{{- end }}
{{- if .Values.shipper.enabled }}
{{- $out = append $out (dict "component" "shipper" "values" "shipper" "port" .Values.shipper.port "metricsPort" "http" "job" "agentobs-shipper") }}
{{- end }}
{{- if .Values.agent.enabled }}
{{- $out = append $out (dict "component" "agent" "values" "agent" "port" .Values.agent.port "metricsPort" "http" "job" "agentobs-agent") }}
{{- end }}
{{- if .Values.fluentBit.enabled }}
{{- $out = append $out (dict "component" "fluent-bit" "values" "fluentBit" "port" .Values.fluentBit.metricsPort "metricsPort" "metrics" "job" "agentobs-collector") }}
{{- end }}
{{- toYaml (dict "items" $out) }}
{{- end }}
