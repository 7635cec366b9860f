{{/* Names and labels. */}}
{{- define "wasmtrade.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wasmtrade.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wasmtrade.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wasmtrade.labels" -}}
helm.sh/chart: {{ include "wasmtrade.chart" . }}
app.kubernetes.io/part-of: wasmtrade
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
{{- end -}}

{{/* The runtime's pods. */}}
{{- define "wasmtrade.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wasmtrade.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: runtime
{{- end -}}

{{/* The IB Gateway's pods. */}}
{{- define "wasmtrade.gateway.fullname" -}}
{{- printf "%s-ib-gateway" (include "wasmtrade.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wasmtrade.gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wasmtrade.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: ib-gateway
{{- end -}}

{{/* The IB Gateway's API port: the image's socat relay (4004 paper, 4003 live)
in the pod, the usual IB port (4002 paper, 4001 live) on the Service. */}}
{{- define "wasmtrade.gateway.relayPort" -}}
{{- if eq .Values.ibGateway.tradingMode "live" }}4003{{ else }}4004{{ end -}}
{{- end -}}
{{- define "wasmtrade.gateway.apiPort" -}}
{{- if eq .Values.ibGateway.tradingMode "live" }}4001{{ else }}4002{{ end -}}
{{- end -}}

{{- define "wasmtrade.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "wasmtrade.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end -}}

{{- define "wasmtrade.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wasmtrade.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "wasmtrade.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "wasmtrade.gateway.image" -}}
{{- $i := .Values.ibGateway.image -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $i.repository $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $i.repository $i.tag -}}
{{- end -}}
{{- end -}}

{{- define "wasmtrade.learner.image" -}}
{{- $i := .Values.learner.image -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $i.repository $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $i.repository ($i.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The learner's command line (python -m wasmtrade_learner's flags), a YAML list. */}}
{{- define "wasmtrade.learner.args" -}}
{{- $l := .Values.learner -}}
- --checkpoints
- {{ $l.checkpoints.mountPath | quote }}
- --name
- {{ $l.name | quote }}
- --seed
- {{ int64 $l.seed | quote }}
- --every-transitions
- {{ int64 $l.everyTransitions | quote }}
- --every-minutes
- {{ $l.everyMinutes | toString | quote }}
- --min-transitions
- {{ int64 $l.minTransitions | quote }}
- --metrics-host
- "0.0.0.0"
- --metrics-port
- {{ int64 $l.metricsPort | quote }}
{{- range $l.extraArgs }}
- {{ toString . | quote }}
{{- end }}
{{- end -}}

{{/* Fails on learner settings that cannot work together. */}}
{{- define "wasmtrade.learner.check" -}}
{{- $l := .Values.learner -}}
{{- if $l.enabled -}}
{{- if and (eq $l.checkpoints.volume "checkpoints") (not .Values.persistence.checkpoints.enabled) -}}
{{- fail "learner.checkpoints.volume is checkpoints but persistence.checkpoints.enabled is false" -}}
{{- end -}}
{{- if or (eq (int $l.metricsPort) (int .Values.ports.grpc)) (eq (int $l.metricsPort) (int .Values.ports.ops)) -}}
{{- fail (printf "learner.metricsPort %d is a port of the runtime (ports.grpc, ports.ops): the containers of a pod share its ports" (int $l.metricsPort)) -}}
{{- end -}}
{{- if $l.gpu.enabled -}}
{{- range $k, $v := ($l.gpu.nodeSelector | default dict) -}}
{{- if and (hasKey ($.Values.nodeSelector | default dict) $k) (ne (index $.Values.nodeSelector $k) $v) -}}
{{- fail (printf "learner.gpu.nodeSelector %s=%s contradicts nodeSelector %s=%s: both select the one node of the pod" $k $v $k (index $.Values.nodeSelector $k)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the API token. */}}
{{- define "wasmtrade.tokenSecret" -}}
{{- if .Values.auth.token -}}
{{- printf "%s-api-token" (include "wasmtrade.fullname" .) -}}
{{- else if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else -}}
{{- fail "auth.existingSecret (a Secret holding the API token) or auth.token (dev only) is required" -}}
{{- end -}}
{{- end -}}

{{/* Where the API token file is mounted. */}}
{{- define "wasmtrade.tokenDir" -}}/var/run/secrets/wasmtrade/api{{- end -}}

{{/* The runtime's config with the keys the chart owns set. */}}
{{- define "wasmtrade.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $server := dict -}}
{{- if kindIs "map" $cfg.server }}{{ $server = $cfg.server }}{{ end -}}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.ports.grpc)) -}}
{{- $_ := set $server "ops_listen" (printf "0.0.0.0:%d" (int .Values.ports.ops)) -}}
{{- $_ := set $server "token_file" (printf "%s/%s" (include "wasmtrade.tokenDir" .) .Values.auth.tokenKey) -}}
{{- if not (hasKey $server "shutdown_grace_secs") }}{{ $_ := set $server "shutdown_grace_secs" 25 }}{{ end -}}
{{- $_ := set $cfg "server" $server -}}
{{- $_ := set $cfg "data_dir" .Values.persistence.data.mountPath -}}
{{- $cluster := dict -}}
{{- if kindIs "map" $cfg.cluster }}{{ $cluster = $cfg.cluster }}{{ end -}}
{{- if not .Values.cluster.enabled }}{{ $_ := set $cluster "mode" "off" }}{{ end -}}
{{- if $cluster }}{{ $_ := set $cfg "cluster" $cluster }}{{ end -}}
{{- toJson $cfg -}}
{{- end -}}

{{/*
TOML from a map. Helm reads every YAML number as a float, and toToml would
write 25 as 25.0, which an integer setting refuses; this writes whole numbers
as integers (the runtime reads an integer into a float setting as well).
Keys are quoted when they are not bare TOML keys; null values are left out.
*/}}
{{- define "wasmtrade.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end -}}
{{- end -}}

{{- define "wasmtrade.toml.value" -}}
{{- if kindIs "string" . -}}{{ toJson . }}
{{- else if kindIs "bool" . -}}{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "float32" .) -}}
{{- if eq (floor .) (float64 .) }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- else if or (kindIs "int" .) (kindIs "int64" .) (kindIs "int32" .) (kindIs "uint64" .) -}}{{ . }}
{{- else if kindIs "slice" . -}}
[{{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ include "wasmtrade.toml.value" $e }}{{ end }}]
{{- else if kindIs "map" . -}}
{ {{- $first := true }}{{ range $k, $v := . }}{{ if not (kindIs "invalid" $v) }}{{ if not $first }},{{ end }} {{ include "wasmtrade.toml.key" $k }} = {{ include "wasmtrade.toml.value" $v }}{{ $first = false }}{{ end }}{{ end }} }
{{- else -}}
{{- fail (printf "config: cannot write %v (%s) as TOML" . (kindOf .)) -}}
{{- end -}}
{{- end -}}

{{- define "wasmtrade.toml.isTableArray" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) -}}
{{- $all := true -}}
{{- range . }}{{ if not (kindIs "map" .) }}{{ $all = false }}{{ end }}{{ end -}}
{{- if $all }}true{{ end -}}
{{- end -}}
{{- end -}}

{{- define "wasmtrade.toml.table" -}}
{{- $path := .path -}}
{{- range $k, $v := .table -}}
{{- if not (or (kindIs "invalid" $v) (kindIs "map" $v) (include "wasmtrade.toml.isTableArray" $v)) }}
{{ include "wasmtrade.toml.key" $k }} = {{ include "wasmtrade.toml.value" $v }}
{{- end -}}
{{- end -}}
{{- range $k, $v := .table -}}
{{- $p := append $path (include "wasmtrade.toml.key" $k) -}}
{{- if kindIs "map" $v }}

[{{ join "." $p }}]
{{- include "wasmtrade.toml.table" (dict "table" $v "path" $p) -}}
{{- else if include "wasmtrade.toml.isTableArray" $v -}}
{{- range $v }}

[[{{ join "." $p }}]]
{{- include "wasmtrade.toml.table" (dict "table" . "path" $p) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wasmtrade.toml" -}}
# Rendered by the wasmtrade Helm chart from .Values.config; every key is
# documented in examples/wasmtrade.toml.
{{- include "wasmtrade.toml.table" (dict "table" . "path" list) }}
{{ end -}}

{{/* Fails unless the grace period covers preStop + the runtime's shutdown. */}}
{{- define "wasmtrade.checkGrace" -}}
{{- $cfg := include "wasmtrade.config" . | fromJson -}}
{{- $shutdown := int $cfg.server.shutdown_grace_secs -}}
{{- $need := add (int .Values.preStopSleepSeconds) $shutdown 5 -}}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least preStopSleepSeconds + config.server.shutdown_grace_secs + 5 = %d: otherwise the kubelet kills the runtime before its shutdown snapshot" (int .Values.terminationGracePeriodSeconds) (int $need)) -}}
{{- end -}}
{{- end -}}
