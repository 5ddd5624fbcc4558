'use strict';
/**
 * A bare functions-framework function, for `npm run bench:cold`: spawn → first answer of ours is
 * compared with this one's, served the same way:
 *   node tools/serve-function.js --source=tools/bench/floor/hello.js --target=hello
 */
const { http } = require('@google-cloud/functions-framework');

exports.FUNCTION_TARGETS = ['hello'];
http('hello', (req, res) => {
  res.status(200).send('hello');
});
