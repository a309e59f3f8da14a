{{/* Names ------------------------------------------------------------------ */}}
{{- define "agentobs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentobs.fullname" -}}
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

{{/* <fullname>-<component>; call with (dict "ctx" $ "component" "indexer") */}}
{{- define "agentobs.componentName" -}}
{{- printf "%s-%s" (include "agentobs.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentobs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: selector labels never change across upgrades; the rest may. */}}
{{- define "agentobs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentobs.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "agentobs.labels" -}}
helm.sh/chart: {{ include "agentobs.chart" .ctx }}
{{ include "agentobs.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agentobs
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* The component's values: (dict "ctx" $ "component" "indexer") → .Values.indexer; fluent-bit → fluentBit */}}
{{- define "agentobs.serviceAccountName" -}}
{{- $v := index .ctx.Values (.component | camelcase | untitle) }}
{{- if $v.serviceAccount.create }}
{{- default (include "agentobs.componentName" .) $v.serviceAccount.name }}
{{- else }}
{{- default "default" $v.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "agentobs.image" -}}
{{- $repo := .image.repository }}
{{- if .ctx.Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .ctx.Values.image.registry) $repo }}{{ end }}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Connection settings ----------------------------------------------------
Environment for the shared internal/kafkaclient and internal/esclient flags, with the
component's env prefix (INDEXER_, SHIPPER_): -kafka.brokers ⇒ INDEXER_KAFKA_BROKERS.
Passwords and API keys are never in the environment: they are files from the
user's existing Secrets (-kafka.sasl.password-file, -es.password-file …). */}}
{{- define "agentobs.kafkaEnv" -}}
{{- $k := .ctx.Values.kafka }}
- name: {{ .prefix }}_KAFKA_BROKERS
  value: {{ join "," $k.brokers | quote }}
{{- if $k.tls.enabled }}
- name: {{ .prefix }}_KAFKA_TLS_ENABLED
  value: "true"
{{- if $k.tls.existingSecret }}
- name: {{ .prefix }}_KAFKA_TLS_CA_FILE
  value: /etc/agentobs/kafka-tls/ca.crt
{{- end }}
{{- end }}
{{- if $k.sasl.mechanism }}
- name: {{ .prefix }}_KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
- name: {{ .prefix }}_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.existingSecret }}
      key: {{ $k.sasl.usernameKey }}
- name: {{ .prefix }}_KAFKA_SASL_PASSWORD_FILE
  value: /etc/agentobs/kafka-sasl/password
{{- end }}
{{- end }}

{{- define "agentobs.esEnv" -}}
{{- $e := .ctx.Values.elasticsearch }}
- name: {{ .prefix }}_ES_ADDRESSES
  value: {{ join "," $e.addresses | quote }}
{{- if $e.auth.existingSecret }}
{{- if $e.auth.apiKeyKey }}
- name: {{ .prefix }}_ES_API_KEY_FILE
  value: /etc/agentobs/es-auth/api-key
{{- else }}
- name: {{ .prefix }}_ES_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $e.auth.existingSecret }}
      key: {{ $e.auth.usernameKey }}
- name: {{ .prefix }}_ES_PASSWORD_FILE
  value: /etc/agentobs/es-auth/password
{{- end }}
{{- end }}
{{- if $e.tls.existingSecret }}
- name: {{ .prefix }}_ES_CA_FILE
  value: /etc/agentobs/es-tls/ca.crt
{{- end }}
{{- end }}

{{- define "agentobs.otelEnv" -}}
- name: OTEL_SERVICE_NAME
  value: {{ .service }}
{{- if .ctx.Values.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .ctx.Values.otlpEndpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: http/protobuf
{{- end }}
{{- end }}

{{/* Where the agents export their spans: agent.otlp.endpoint, else the
chart's shipper (agent.otlp.toShipper), else "" (otlpEndpoint through the
OTEL_* environment). */}}
{{- define "agentobs.agentOTLPEndpoint" -}}
{{- $a := .Values.agent.otlp }}
{{- if $a.endpoint }}{{ $a.endpoint }}
{{- else if and $a.toShipper .Values.shipper.enabled }}http://{{ include "agentobs.componentName" (dict "ctx" . "component" "shipper") }}:{{ .Values.shipper.port }}
{{- end }}
{{- end }}

{{/* The shipper's bearer token (shipper.tokenSecret) as a mounted file:
(dict "ctx" $ "name" "SHIPPER_HTTP_TOKEN_FILE") is its env var, "part"
"mount" and "volume" the volume mount and the volume. Nothing without the
Secret. */}}
{{- define "agentobs.shipperToken" -}}
{{- $ts := .ctx.Values.shipper.tokenSecret }}
{{- if $ts.name }}
{{- if eq .part "env" }}
- name: {{ .name }}
  value: /etc/agentobs/shipper-token/{{ $ts.key }}
{{- else if eq .part "mount" }}
- {name: shipper-token, mountPath: /etc/agentobs/shipper-token, readOnly: true}
{{- else }}
- name: shipper-token
  secret: {secretName: {{ $ts.name | quote }}, items: [{key: {{ $ts.key | quote }}, path: {{ $ts.key | quote }}}]}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes for the secrets above; (dict "ctx" $ "es" true) adds Elasticsearch's. */}}
{{- define "agentobs.secretVolumes" -}}
{{- $k := .ctx.Values.kafka }}
{{- $e := .ctx.Values.elasticsearch }}
{{- if and $k.tls.enabled $k.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $k.tls.existingSecret }}
    items: [{key: {{ $k.tls.caKey }}, path: ca.crt}]
{{- end }}
{{- if $k.sasl.mechanism }}
- name: kafka-sasl
  secret:
    secretName: {{ $k.sasl.existingSecret }}
    items: [{key: {{ $k.sasl.passwordKey }}, path: password}]
{{- end }}
{{- if .es }}
{{- if $e.auth.existingSecret }}
- name: es-auth
  secret:
    secretName: {{ $e.auth.existingSecret }}
    items:
    {{- if $e.auth.apiKeyKey }}
      - {key: {{ $e.auth.apiKeyKey }}, path: api-key}
    {{- else }}
      - {key: {{ $e.auth.passwordKey }}, path: password}
    {{- end }}
{{- end }}
{{- if $e.tls.existingSecret }}
- name: es-tls
  secret:
    secretName: {{ $e.tls.existingSecret }}
    items: [{key: {{ $e.tls.caKey }}, path: ca.crt}]
{{- end }}
{{- end }}
{{- end }}

{{- define "agentobs.secretVolumeMounts" -}}
{{- $k := .ctx.Values.kafka }}
{{- $e := .ctx.Values.elasticsearch }}
{{- if and $k.tls.enabled $k.tls.existingSecret }}
- {name: kafka-tls, mountPath: /etc/agentobs/kafka-tls, readOnly: true}
{{- end }}
{{- if $k.sasl.mechanism }}
- {name: kafka-sasl, mountPath: /etc/agentobs/kafka-sasl, readOnly: true}
{{- end }}
{{- if .es }}
{{- if $e.auth.existingSecret }}
- {name: es-auth, mountPath: /etc/agentobs/es-auth, readOnly: true}
{{- end }}
{{- if $e.tls.existingSecret }}
- {name: es-tls, mountPath: /etc/agentobs/es-tls, readOnly: true}
{{- end }}
{{- end }}
{{- end }}

{{/* Probes on a component's own /healthz and /readyz (internal/telemetry). */}}
{{- define "agentobs.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end }}

{{/* Fail rendering early on settings that cannot work. */}}
{{- define "agentobs.validate" -}}
{{- if and .Values.kafka.sasl.mechanism (not .Values.kafka.sasl.existingSecret) }}
{{- fail "kafka.sasl.existingSecret is required when kafka.sasl.mechanism is set (a Secret with the SASL username and password)" }}
{{- end }}
{{- if and .Values.kafka.tls.existingSecret (not .Values.kafka.tls.enabled) }}
{{- fail "kafka.tls.existingSecret is set but kafka.tls.enabled is false" }}
{{- end }}
{{- end }}
