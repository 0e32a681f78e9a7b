package command

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
