{{/* Names, labels and the command lines of both components (the only place flags are built). */}}

{{- define "ingot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ingot.fullname" -}}
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

{{- define "ingot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ingot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ingot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ingot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ingot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "ingot.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "ingot.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ingot.speaker.serviceAccountName" -}}
{{- if .Values.speaker.serviceAccount.create }}
{{- default (printf "%s-speaker" (include "ingot.fullname" .)) .Values.speaker.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.speaker.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ingot.webhook.serviceName" -}}
{{- printf "%s-webhook" (include "ingot.fullname" .) }}
{{- end }}

{{- define "ingot.webhook.configName" -}}
{{- printf "%s-webhook" (include "ingot.fullname" .) }}
{{- end }}

{{- define "ingot.webhook.secretName" -}}
{{- printf "%s-webhook-cert" (include "ingot.fullname" .) }}
{{- end }}

{{- define "ingot.webhook.certificateName" -}}
{{- printf "%s-webhook" (include "ingot.fullname" .) }}
{{- end }}

{{- define "ingot.heartbeat.secretName" -}}
{{- default (printf "%s-heartbeat" (include "ingot.fullname" .)) .Values.speaker.heartbeat.existingSecret }}
{{- end }}

{{- define "ingot.leaseName" -}}
{{- printf "%s-controller" (include "ingot.fullname" .) }}
{{- end }}

{{/*
Arguments of ingot-controller (controller/__main__.py; docs/install.md "Flags"): --namespace, --log-level, --metrics-port (serves /metrics, /healthz,
/readyz), --webhook-port, --webhook-service-name, --webhook-secret-name,
--webhook-config-name, --webhook-cert-dir (cert-manager mode), --lb-class, --leader-elect,
--leader-election-lease-name.
*/}}
{{- define "ingot.controller.args" -}}
{{- $f := .Values.controller.flags -}}
- --namespace=$(NAMESPACE)
- --log-level={{ $f.logLevel }}
- --metrics-port={{ $f.metricsPort }}
{{- if .Values.webhook.enabled }}
- --webhook-port={{ $f.webhookPort }}
- --webhook-service-name={{ include "ingot.webhook.serviceName" . }}
- --webhook-config-name={{ include "ingot.webhook.configName" . }}
{{- if .Values.webhook.certManager.enabled }}
- --webhook-cert-dir=/etc/ingot/webhook-cert
{{- else }}
- --webhook-secret-name={{ include "ingot.webhook.secretName" . }}
{{- end }}
{{- else }}
- --webhook-port=0
{{- end }}
{{- with .Values.loadBalancerClass }}
- --lb-class={{ . }}
{{- end }}
{{- if $f.leaderElect }}
- --leader-elect
- --leader-election-lease-name={{ include "ingot.leaseName" . }}
{{- end }}
{{- range .Values.controller.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Arguments of ingot-speaker (speaker/__main__.py): --node-name (required), --namespace,
--log-level, --metrics-port, --heartbeat-key-file (the mounted heartbeat Secret), --lb-class.
*/}}
{{- define "ingot.speaker.args" -}}
{{- $f := .Values.speaker.flags -}}
- --node-name=$(NODE_NAME)
- --namespace=$(NAMESPACE)
- --log-level={{ $f.logLevel }}
- --metrics-port={{ $f.metricsPort }}
- --heartbeat-key-file=/etc/ingot/heartbeat/key
{{- with .Values.loadBalancerClass }}
- --lb-class={{ . }}
{{- end }}
{{- range .Values.speaker.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Container security context of the controller: fixed, not configurable. */}}
{{- define "ingot.controller.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container security context of the speaker: root inside the container only because Kubernetes
gives added capabilities to non-root processes only through ambient sets it does not set; all
capabilities are dropped except NET_RAW (ARP/NDP raw sockets) and NET_ADMIN (multicast
membership for NDP, BFD/BGP socket options).
*/}}
{{- define "ingot.speaker.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsUser: 0
runAsNonRoot: false
capabilities:
  drop:
    - ALL
  add:
    - NET_RAW
    - NET_ADMIN
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ingot.validate" -}}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled }}
{{- fail "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled are both true: targets would be scraped twice; enable one" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled (it selects the metrics Services)" }}
{{- end }}
{{- if and (gt (int .Values.controller.replicas) 1) (not .Values.controller.flags.leaderElect) }}
{{- fail "controller.replicas > 1 needs controller.flags.leaderElect=true (the allocator is single-writer)" }}
{{- end }}
{{- if and .Values.webhook.enabled (eq (int .Values.controller.flags.webhookPort) (int .Values.controller.flags.metricsPort)) }}
{{- fail "controller.flags.webhookPort and controller.flags.metricsPort must differ" }}
{{- end }}
{{- end }}
