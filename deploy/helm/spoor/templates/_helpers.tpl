{{/* The chart's name. */}}
{{- define "spoor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects. */}}
{{- define "spoor.fullname" -}}
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

{{- define "spoor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "spoor.labels" -}}
helm.sh/chart: {{ include "spoor.chart" . }}
{{ include "spoor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- if ne .Values.mode "split" }}
app.kubernetes.io/component: all-in-one
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "spoor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spoor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "spoor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spoor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spoor.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Spoor's configuration file: the chart's settings, then .Values.config. */}}
{{- define "spoor.config" -}}
{{- $base := dict "data_dir" "/var/lib/spoor" }}
{{- if .Values.istio.compat }}
{{- $_ := set $base "query" (dict "http" (dict "base_path" .Values.istio.basePath)) }}
{{- end }}
{{- toYaml (mergeOverwrite $base (deepCopy .Values.config)) }}
{{- end }}

{{/*
Split mode on Kafka (mode: split): collector, store and query roles.
The helpers below take (list $ "collector"|"store"|"query").
*/}}
{{- define "spoor.split" -}}
{{- if eq .Values.mode "split" }}true{{ end }}
{{- end }}

{{/*
The name of a role's objects: <fullname>-<role>, the full name cut to 40
characters so that the longest name (<fullname>-store-headless) and the
store pods' revision labels stay within Kubernetes' 63.
*/}}
{{- define "spoor.roleName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "spoor.fullname" $root | trunc 40 | trimSuffix "-") (index . 1) }}
{{- end }}

{{- define "spoor.roleSelectorLabels" -}}
{{ include "spoor.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "spoor.roleLabels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "spoor.chart" $root }}
{{ include "spoor.roleSelectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Service in front of the query API, UI and Zipkin read API. */}}
{{- define "spoor.queryServiceName" -}}
{{- if include "spoor.split" . }}
{{- include "spoor.roleName" (list . "query") }}
{{- else }}
{{- include "spoor.fullname" . }}
{{- end }}
{{- end }}

{{/* The Kafka bootstrap brokers (host:port,...); required in split mode. */}}
{{- define "spoor.kafkaBrokers" -}}
{{- $brokers := .Values.kafka.brokers }}
{{- if kindIs "slice" $brokers }}
{{- $brokers = join "," $brokers }}
{{- end }}
{{- required "mode is split but kafka.brokers is empty: set it to your Kafka's bootstrap addresses (host:port,...)" $brokers }}
{{- end }}

{{/* The store nodes' base URLs, one per replica, by their headless Service's DNS names. */}}
{{- define "spoor.storeUrls" -}}
{{- $store := include "spoor.roleName" (list . "store") }}
{{- $urls := list }}
{{- range $i := until (int .Values.store.replicas) }}
{{- $urls = append $urls (printf "http://%s-%d.%s-headless.%s.svc:16686" $store $i $store $.Release.Namespace) }}
{{- end }}
{{- toJson $urls }}
{{- end }}

{{/* Spoor's configuration for a role of the split mode: the chart's settings, then .Values.config. */}}
{{- define "spoor.roleConfig" -}}
{{- $root := index . 0 }}
{{- $v := $root.Values }}
{{- $kafka := dict "brokers" (include "spoor.kafkaBrokers" $root) "topic" $v.kafka.topic "partitions" $v.kafka.partitions "replication_factor" $v.kafka.replicationFactor "create_topic" $v.kafka.createTopic "group_id" $v.kafka.groupId }}
{{- with $v.kafka.clientProperties }}
{{- $_ := set $kafka "client_properties" . }}
{{- end }}
{{- $base := dict "data_dir" "/var/lib/spoor" "kafka" $kafka }}
{{- if $v.istio.compat }}
{{- $_ := set $base "query" (dict "http" (dict "base_path" $v.istio.basePath)) }}
{{- end }}
{{- if eq (index . 1) "query" }}
{{- $stores := include "spoor.storeUrls" $root | fromJsonArray }}
{{- $_ := set $base "cluster" (dict "query" (dict "stores" $stores)) }}
{{- end }}
{{- toYaml (mergeOverwrite $base (deepCopy $v.config)) }}
{{- end }}

{{/* The selector of an Istio addon Service: app: jaeger, or a role's pods in split mode. */}}
{{- define "spoor.istioSelector" -}}
{{- if include "spoor.split" (index . 0) }}
{{- include "spoor.roleSelectorLabels" . }}
{{- else -}}
app: jaeger
{{- end }}
{{- end }}
