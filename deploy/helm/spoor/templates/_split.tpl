{{/*
The pods of the split mode (mode: split). Every helper takes (list $ role),
role being collector, store or query. Each role listens only on its own
ports: the collector on the receivers', the store on the query HTTP port
(Jaeger API and the internal API query nodes read), the query node on the
query and Zipkin ports; all three on the admin port.
*/}}

{{- define "spoor.containerPorts.collector" -}}
- {name: zipkin, containerPort: 9411, protocol: TCP}
- {name: otlp-grpc, containerPort: 4317, protocol: TCP}
- {name: otlp-http, containerPort: 4318, protocol: TCP}
- {name: jaeger-grpc, containerPort: 14250, protocol: TCP}
- {name: jaeger-thrift, containerPort: 14268, protocol: TCP}
- {name: admin, containerPort: 14269, protocol: TCP}
- {name: sampling-http, containerPort: 5778, protocol: TCP}
- {name: sampling-grpc, containerPort: 5779, protocol: TCP}
- {name: agent-compact, containerPort: 6831, protocol: UDP}
- {name: agent-binary, containerPort: 6832, protocol: UDP}
{{- end }}

{{- define "spoor.containerPorts.store" -}}
- {name: query-http, containerPort: 16686, protocol: TCP}
- {name: admin, containerPort: 14269, protocol: TCP}
{{- end }}

{{- define "spoor.containerPorts.query" -}}
- {name: query-http, containerPort: 16686, protocol: TCP}
- {name: query-grpc, containerPort: 16685, protocol: TCP}
- {name: zipkin, containerPort: 9411, protocol: TCP}
- {name: admin, containerPort: 14269, protocol: TCP}
{{- end }}

{{- define "spoor.servicePorts.collector" -}}
- {name: http-zipkin, port: 9411, targetPort: zipkin, protocol: TCP}
- {name: grpc-otlp, port: 4317, targetPort: otlp-grpc, protocol: TCP, appProtocol: grpc}
- {name: http-otlp, port: 4318, targetPort: otlp-http, protocol: TCP}
- {name: grpc-jaeger, port: 14250, targetPort: jaeger-grpc, protocol: TCP, appProtocol: grpc}
- {name: http-jaeger-thrift, port: 14268, targetPort: jaeger-thrift, protocol: TCP}
- {name: http-admin, port: 14269, targetPort: admin, protocol: TCP}
- {name: http-sampling, port: 5778, targetPort: sampling-http, protocol: TCP}
- {name: grpc-sampling, port: 5779, targetPort: sampling-grpc, protocol: TCP, appProtocol: grpc}
- {name: udp-agent-compact, port: 6831, targetPort: agent-compact, protocol: UDP}
- {name: udp-agent-binary, port: 6832, targetPort: agent-binary, protocol: UDP}
{{- end }}

{{- define "spoor.servicePorts.store" -}}
- {name: http-query, port: 16686, targetPort: query-http, protocol: TCP}
- {name: http-admin, port: 14269, targetPort: admin, protocol: TCP}
{{- end }}

{{- define "spoor.servicePorts.query" -}}
- {name: http-query, port: 16686, targetPort: query-http, protocol: TCP}
- {name: grpc-query, port: 16685, targetPort: query-grpc, protocol: TCP, appProtocol: grpc}
- {name: http-zipkin, port: 9411, targetPort: zipkin, protocol: TCP}
- {name: http-admin, port: 14269, targetPort: admin, protocol: TCP}
{{- end }}

{{/* A role's pod template. */}}
{{- define "spoor.rolePodTemplate" -}}
{{- $root := index . 0 }}
{{- $role := index . 1 }}
{{- $v := $root.Values }}
{{- $configRole := ternary "query" "store" (eq $role "query") -}}
metadata:
  labels:
    {{- include "spoor.roleLabels" . | nindent 4 }}
    {{- if $v.istio.compat }}
    {{- if eq $role "query" }}
    # istioctl dashboard jaeger port-forwards 16686 of a pod labelled app=jaeger.
    app: jaeger
    {{- end }}
    sidecar.istio.io/inject: "false"
    {{- end }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "spoor.roleConfig" (list $root $configRole) | sha256sum }}
    prometheus.io/scrape: "true"
    prometheus.io/port: "14269"
    prometheus.io/path: /metrics
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "spoor.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
  {{- with $v.image.pullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  {{- with $v.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  containers:
    - name: spoor
      image: {{ include "spoor.image" $root }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        - --config
        - /etc/spoor/{{ ternary "query.yaml" "config.yaml" (eq $role "query") }}
        {{- range $v.extraArgs }}
        - {{ . | quote }}
        {{- end }}
        # The role: the subcommand comes last.
        - {{ $role }}
      {{- if or (eq $role "store") $v.extraEnv }}
      env:
        {{- if eq $role "store" }}
        # The node's name in the consumer group and in query answers.
        - name: SPOOR_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- with $v.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        {{- include (printf "spoor.containerPorts.%s" $role) $root | nindent 8 }}
      {{- with $v.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with (index $v $role).resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- if eq $role "store" }}
        - name: storage
          mountPath: /var/lib/spoor
        {{- end }}
        - name: config
          mountPath: /etc/spoor
          readOnly: true
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "spoor.fullname" $root }}
    {{- if and (eq $role "store") (not $v.store.persistence.enabled) }}
    - name: storage
      emptyDir: {}
    {{- end }}
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* A role's Service (ClusterIP by default, service.* applies). */}}
{{- define "spoor.roleService" -}}
{{- $root := index . 0 }}
{{- $role := index . 1 -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "spoor.roleName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "spoor.roleLabels" . | nindent 4 }}
    {{- with $root.Values.service.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $root.Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $root.Values.service.type }}
  ports:
    {{- include (printf "spoor.servicePorts.%s" $role) $root | nindent 4 }}
  selector:
    {{- include "spoor.roleSelectorLabels" . | nindent 4 }}
{{- end }}
