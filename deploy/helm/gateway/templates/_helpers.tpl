{{/*
Helpers of the gateway chart: names, labels, the image, each role's port and environment, and the
checks that refuse an inconsistent set of values. Helpers about one role take a dict:
  (dict "root" $ "name" <role name> "role" <the role's entry in .Values.roles>)
*/}}

{{/* The chart's name, at most 63 characters. */}}
{{- define "gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name: <release>-gateway, or the release name when it already says gateway. */}}
{{- define "gateway.fullname" -}}
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

{{/* chart-version label value. */}}
{{- define "gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of one component's objects (a role, or "redis"): <fullname>-<component>. At most 52
characters, so that a StatefulSet's controller-revision-hash label stays within 63.
Takes (dict "root" $ "component" <name>).
*/}}
{{- define "gateway.componentName" -}}
{{- printf "%s-%s" (include "gateway.fullname" .root) .component | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. Takes the root context. */}}
{{- define "gateway.labels" -}}
helm.sh/chart: {{ include "gateway.chart" . }}
{{ include "gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gateway
{{- end }}

{{/* Labels that select this release's pods. Takes the root context. */}}
{{- define "gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component's objects. Takes (dict "root" $ "component" <name>). */}}
{{- define "gateway.componentLabels" -}}
{{ include "gateway.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels that select one component's pods. Takes (dict "root" $ "component" <name>). */}}
{{- define "gateway.componentSelectorLabels" -}}
{{ include "gateway.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The gateway image: repository@digest when a digest is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The ConfigMap with the shared, non-secret settings. */}}
{{- define "gateway.configMapName" -}}
{{- printf "%s-config" (include "gateway.fullname" .) }}
{{- end }}

{{/* The Secret the pods read: secrets.existingSecret, or the one this chart creates. */}}
{{- define "gateway.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- printf "%s-secrets" (include "gateway.fullname" .) }}
{{- end }}
{{- end }}

{{/*
One key of the chart's Secret, base64-encoded: the value given in values, else the live Secret's
(kept across upgrades), else a generated one. Takes (dict "given" "live" "generated").
*/}}
{{- define "gateway.secretData" -}}
{{- if .given }}
{{- .given | toString | b64enc | quote }}
{{- else if .live }}
{{- .live | quote }}
{{- else }}
{{- .generated | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
"true" when each role logs in to Redis as its own ACL user (the bundled Redis always; an external
one with externalRedis.aclUsers), else empty.
*/}}
{{- define "gateway.aclUsers" -}}
{{- if or .Values.redis.enabled .Values.externalRedis.aclUsers }}true{{ end }}
{{- end }}

{{/* The roles with a Redis user of their own (lib/redis-acl.ts ACL_ROLES), space-separated. */}}
{{- define "gateway.aclRoles" -}}
webserver receiver executor consensus sender scheduler
{{- end }}

{{/* "true" when the webserver gets the bundled Redis's default user as its admin connection. */}}
{{- define "gateway.webserverAdmin" -}}
{{- if and (eq .name "webserver") .root.Values.redis.enabled .root.Values.redis.webserverAdmin }}true{{ end }}
{{- end }}

{{/* Host name of the bundled Redis Service. */}}
{{- define "gateway.redisHost" -}}
{{- include "gateway.componentName" (dict "root" . "component" "redis") }}
{{- end }}

{{/*
An environment value as a quoted string. Numbers from a values file arrive as float64 and would
print as 1.048576e+06, so whole ones are converted to integers first.
*/}}
{{- define "gateway.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . | toString | quote }}
{{- else }}
{{- toString . | quote }}
{{- end }}
{{- end }}

{{/*
The port a role serves /healthz and /readyz on: GATEWAY_PORT for the webserver (its own env
first, then the shared config), HEALTH_PORT = roles.<role>.healthPort for every other role.
*/}}
{{- define "gateway.rolePort" -}}
{{- if eq .name "webserver" }}
{{- $env := .role.env | default dict }}
{{- get $env "GATEWAY_PORT" | default .root.Values.config.GATEWAY_PORT | default 8080 | int }}
{{- else }}
{{- required (printf "roles.%s.healthPort is required" .name) .role.healthPort | int }}
{{- end }}
{{- end }}

{{/*
"true" when the role talks to the Archway chain (GATEWAY_CHAIN_RPC_URL set in its env or in the
shared config), else empty. Takes (dict "root" $ "name" <role> "role" <entry>).
*/}}
{{- define "gateway.chainEnabled" -}}
{{- $env := .role.env | default dict }}
{{- if or (get $env "GATEWAY_CHAIN_RPC_URL") .root.Values.config.GATEWAY_CHAIN_RPC_URL }}true{{ end }}
{{- end }}

{{/*
The environment of one role's container, in this order (an explicit entry overrides the
ConfigMap loaded with envFrom):
  TZ=UTC; HEALTH_PORT (all but the webserver); NODE_KEY_FILE and, unless set in config or env,
  GATEWAY_NODE_NAME = the pod's name (executor);
  REDIS_URL (bundled Redis: no password in it), or REDIS_URL from a Secret (external Redis); with
  ACL users, REDIS_USERNAME gateway-<role> and REDIS_PASSWORD_FILE (the Secret's
  REDIS_PASSWORD_<ROLE>, mounted by workloads.yaml), plus REDIS_ADMIN_PASSWORD_FILE for the
  webserver with redis.webserverAdmin; the Secret keys listed in
  roles.<role>.secrets, except the chain mnemonic: lib/config.ts asks for its _FILE form, so when
  the chain is configured the role gets GATEWAY_CHAIN_MNEMONIC_FILE, a file of the Secret volume
  mounted by workloads.yaml (and nothing when it is not); last, roles.<role>.env.
*/}}
{{- define "gateway.env" -}}
{{- $root := .root }}
{{- $env := .role.env | default dict }}
{{- $secretName := include "gateway.secretName" $root }}
{{- if not (hasKey $env "TZ") }}
- name: TZ
  value: UTC
{{- end }}
{{- if ne .name "webserver" }}
- name: HEALTH_PORT
  value: {{ include "gateway.rolePort" . | quote }}
{{- end }}
{{- if eq .name "executor" }}
- name: NODE_KEY_FILE
  value: /var/lib/gateway/node.key
{{- if not (or (hasKey $env "GATEWAY_NODE_NAME") $root.Values.config.GATEWAY_NODE_NAME) }}
- name: GATEWAY_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- end }}
{{- if $root.Values.redis.enabled }}
- name: REDIS_URL
  value: {{ printf "redis://%s:6379" (include "gateway.redisHost" $root) | quote }}
{{- else if $root.Values.externalRedis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.externalRedis.existingSecret }}
      key: {{ $root.Values.externalRedis.existingSecretKey | default "REDIS_URL" }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: REDIS_URL
{{- end }}
{{- if include "gateway.aclUsers" $root }}
- name: REDIS_USERNAME
  value: {{ printf "gateway-%s" .name | quote }}
- name: REDIS_PASSWORD_FILE
  value: /var/run/secrets/redis/password
{{- if include "gateway.webserverAdmin" . }}
- name: REDIS_ADMIN_PASSWORD_FILE
  value: /var/run/secrets/redis/admin-password
{{- end }}
{{- end }}
{{- $wanted := .role.secrets | default list }}
{{- range $key := list "GATEWAY_ADMIN_TOKEN" "GATEWAY_MASTER_KEY" "GATEWAY_COUNTER_KEY" }}
{{- if has $key $wanted }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- if and (has "GATEWAY_CHAIN_MNEMONIC" $wanted) (include "gateway.chainEnabled" .) }}
- name: GATEWAY_CHAIN_MNEMONIC_FILE
  value: /var/run/secrets/gateway/GATEWAY_CHAIN_MNEMONIC
{{- end }}
{{- range $key, $value := $env }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $key }}
  value: {{ include "gateway.envValue" $value }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Refuses values that cannot work together, with a message naming the keys to change. Included
once, from workloads.yaml.
*/}}
{{- define "gateway.validate" -}}
{{- $ext := .Values.externalRedis }}
{{- if and .Values.redis.enabled (or $ext.url $ext.existingSecret) }}
{{- fail "redis.enabled and externalRedis.url / externalRedis.existingSecret exclude each other: set redis.enabled=false to use an external Redis" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not $ext.url) (not $ext.existingSecret) (not .Values.secrets.existingSecret) }}
{{- fail "no Redis: keep redis.enabled=true, or set externalRedis.url or externalRedis.existingSecret (or a REDIS_URL key in secrets.existingSecret)" }}
{{- end }}
{{- if and .Values.secrets.existingSecret $ext.url (not $ext.existingSecret) }}
{{- fail "externalRedis.url is stored in the chart's Secret, which secrets.existingSecret replaces: put REDIS_URL into your Secret or use externalRedis.existingSecret" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not .Values.redis.enabled) (not $ext.cidr) }}
{{- fail "networkPolicy.enabled with an external Redis needs externalRedis.cidr (the range the pods may reach Redis in), or networkPolicy.enabled=false" }}
{{- end }}
{{- if .Values.networkPolicy.enabled }}
{{- range $name, $role := .Values.roles }}
{{- $chain := include "gateway.chainEnabled" (dict "root" $ "name" $name "role" $role) }}
{{- if and $role.enabled $chain (has $name (list "sender" "scheduler")) (not (get ($.Values.networkPolicy.extraEgress | default dict) $name)) }}
{{- fail (printf "GATEWAY_CHAIN_RPC_URL is set but the NetworkPolicy lets the %s reach only Redis and DNS: add networkPolicy.extraEgress.%s rules for the RPC endpoint" $name $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- $scheduler := .Values.roles.scheduler | default dict }}
{{- if and $scheduler.autoscaling $scheduler.autoscaling.enabled }}
{{- fail "roles.scheduler.autoscaling: the scheduler runs exactly one replica (it ticks under a Redis lease)" }}
{{- end }}
{{- end }}
