{{/* Names and labels of the capmaas chart. */}}

{{- define "capmaas.name" -}}capmaas{{- end -}}

{{- define "capmaas.managerName" -}}capmaas-controller-manager{{- end -}}

{{- define "capmaas.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}{{ .Values.serviceAccount.name }}{{- else -}}capmaas-manager{{- end -}}
{{- end -}}

{{- define "capmaas.maasSimName" -}}capmaas-maas-sim{{- end -}}

{{- define "capmaas.labels" -}}
app.kubernetes.io/name: capmaas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
cluster.x-k8s.io/provider: infrastructure-capmaas-maas
{{- end -}}

{{- define "capmaas.selectorLabels" -}}
app.kubernetes.io/name: capmaas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller-manager
{{- end -}}

{{- define "capmaas.maasSimSelectorLabels" -}}
app.kubernetes.io/name: capmaas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: maas-sim
{{- end -}}

{{- define "capmaas.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
The Secret and keys of the default MAAS credentials, as a dict with
"secret", "endpoint", "endpointKey", "apiKeyKey", "caBundleKey"; "secret" is
empty when there are none. "endpoint" (maas.endpoint with an existing Secret) is
the endpoint itself, then endpointKey is not read.
*/}}
{{- define "capmaas.credentials" -}}
{{- $c := .Values.credentials -}}
{{- if $c.existingSecret -}}
{{- dict "secret" $c.existingSecret "endpoint" .Values.maas.endpoint "endpointKey" $c.endpointKey "apiKeyKey" $c.apiKeyKey "caBundleKey" $c.caBundleKey | toJson -}}
{{- else if $c.create -}}
{{- dict "secret" $c.secretName "endpointKey" "endpoint" "apiKeyKey" "apiKey" "caBundleKey" "" | toJson -}}
{{- else if .Values.maasSim.enabled -}}
{{- dict "secret" (include "capmaas.maasSimName" .) "endpointKey" "endpoint" "apiKeyKey" "apiKey" "caBundleKey" "" | toJson -}}
{{- else -}}
{{- dict "secret" "" | toJson -}}
{{- end -}}
{{- end -}}
