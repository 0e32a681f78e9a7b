package command

// What botocore 1.43.127's service models say of operations that their
// names do not; testdata/botocore_models.py prints these tables again from
// the botocore installed.

// outfileOperations are the operations whose answer the CLI writes to a
// local file named by a positional argument: those whose output payload is
// a blob (botocore's has_streaming_output), from botocore 1.43.127's
// models, with the CLI's names (s3 is s3api). Wherever that argument stands
// among the options, the operation writes on the host the CLI runs on.
var outfileOperations = map[string]bool{
	"apigateway get-export": true, "apigateway get-sdk": true, "apigatewayv2 export-api": true,
	"appconfig create-hosted-configuration-version": true, "appconfig get-configuration": true,
	"appconfig get-hosted-configuration-version": true, "appconfigdata get-latest-configuration": true,
	"appsync get-introspection-schema": true, "bedrock-agentcore invoke-agent-runtime": true,
	"bedrock-runtime invoke-model": true, "cloudfront get-connection-function": true,
	"cloudfront get-function": true, "codeartifact get-package-version-asset": true,
	"codeguruprofiler get-profile": true, "datazone get-lineage-event": true, "ebs get-snapshot-block": true,
	"geo-maps get-glyphs": true, "geo-maps get-sprites": true, "geo-maps get-static-map": true,
	"geo-maps get-style-descriptor": true, "geo-maps get-tile": true, "glacier get-job-output": true,
	"iot-data delete-thing-shadow": true, "iot-data get-thing-shadow": true,
	"iot-data update-thing-shadow": true, "iotwireless get-position-estimate": true,
	"iotwireless get-resource-position": true, "kinesis-video-archived-media get-clip": true,
	"kinesis-video-archived-media get-media-for-fragment-list": true, "kinesis-video-media get-media": true,
	"lakeformation get-work-unit-results": true, "lambda invoke": true, "lex-runtime post-content": true,
	"lex-runtime put-session": true, "lexv2-runtime put-session": true,
	"lexv2-runtime recognize-utterance": true, "location get-map-glyphs": true, "location get-map-sprites": true,
	"location get-map-style-descriptor": true, "location get-map-tile": true,
	"medialive describe-input-device-thumbnail": true, "mediastore-data get-object": true,
	"medical-imaging get-image-frame": true, "medical-imaging get-image-set-metadata": true,
	"neptune-graph execute-query": true, "neptunedata execute-gremlin-explain-query": true,
	"neptunedata execute-gremlin-profile-query": true, "neptunedata execute-open-cypher-explain-query": true,
	"omics get-read-set": true, "omics get-reference": true, "polly synthesize-speech": true,
	"s3api get-object": true, "s3api get-object-annotation": true, "s3api get-object-torrent": true,
	"sagemaker-geospatial get-tile": true, "sagemaker-runtime invoke-endpoint": true,
	"sagemakerjobruntime sample": true, "sagemakerjobruntime sample-with-response-stream": true,
	"sagemakertrainingsessionruntime sample-training-session":                      true,
	"sagemakertrainingsessionruntime sample-training-session-with-response-stream": true,
	"schemas get-code-binding-source":                                              true, "workmailmessageflow get-raw-message-content": true,
}

// deleteOperations are the operations of REST services that botocore's
// models send as HTTP DELETE though their names do not say delete
// (securityhub disable-security-hub, macie2 disable-macie, fis
// stop-experiment): deletes.
var deleteOperations = map[string]bool{
	"amplify stop-job": true, "apigateway flush-stage-authorizers-cache": true,
	"apigateway flush-stage-cache": true, "apigatewayv2 disable-portal": true,
	"apigatewayv2 reset-authorizers-cache": true, "appconfig stop-deployment": true,
	"appsync flush-api-cache": true, "codecatalyst stop-dev-environment-session": true,
	"cognito-sync unsubscribe-from-dataset": true, "devops-agent disable-operator-app": true,
	"fis stop-experiment": true, "internetmonitor stop-query": true, "iot clear-default-authorizer": true,
	"iot-managed-integrations reset-runtime-log-configuration": true,
	"iotwireless reset-all-resource-log-levels":                true, "iotwireless reset-resource-log-level": true,
	"macie2 disable-macie": true, "macie2 disable-organization-admin-account": true,
	"managedblockchain reject-invitation": true, "networkflowmonitor stop-query-monitor-top-contributors": true,
	"networkflowmonitor stop-query-workload-insights-top-contributors":      true,
	"networkflowmonitor stop-query-workload-insights-top-contributors-data": true,
	"notifications disable-notifications-access-for-organization":           true,
	"s3control dissociate-access-grants-identity-center":                    true,
	"securityhub disable-import-findings-for-product":                       true, "securityhub disable-security-hub": true,
	"securityhub disable-security-hub-feature-v2": true, "securityhub disable-security-hub-v2": true,
	"workdocs deactivate-user": true, "workspaces-web expire-session": true,
}
