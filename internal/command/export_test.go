package command

// OptionName is optionName, for FuzzOptionName.
var OptionName = optionName
