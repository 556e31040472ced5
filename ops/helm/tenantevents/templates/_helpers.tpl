{{- define "tenantevents.name" -}}
{{- .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenantevents.selectorLabels" -}}
app.kubernetes.io/name: tenantevents
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tenantevents.labels" -}}
{{ include "tenantevents.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tenantevents.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}

{{/* The settings every process of the release gets, as environment variables (never secrets). */}}
{{- define "tenantevents.env" -}}
- name: TenantEvents__PublicUrl
  value: {{ .Values.publicUrl | quote }}
- name: ASPNETCORE_URLS
  value: {{ printf "http://+:8080;http://+:%d" (int .Values.metrics.port) | quote }}
- name: TenantEvents__ManagementPort
  value: {{ .Values.metrics.port | quote }}
{{- range $name, $value := .Values.config }}
- name: {{ printf "TenantEvents__%s" $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $i, $proxy := .Values.trustedProxies }}
- name: {{ printf "TenantEvents__TrustedProxies__%d" $i }}
  value: {{ $proxy | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The local key provider keeps keys in the data folder: every instance must share one volume, or each would make its own. */}}
{{- define "tenantevents.checkKeys" -}}
{{- if and (eq (toString (default "local" .Values.config.KeyProvider)) "local") (not .Values.dataVolume.existingClaim) -}}
{{- fail "config.KeyProvider local keeps the tenants' keys in the data folder: give dataVolume.existingClaim (a ReadWriteMany volume every instance shares), or use azure-key-vault" -}}
{{- end -}}
{{- end -}}

{{/* The container's security settings: the image's user, nothing it could gain, a root filesystem it cannot change. */}}
{{- define "tenantevents.containerSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tenantevents.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}
