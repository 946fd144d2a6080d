// TensorFlow.js's own execution of the UpscalerJS Keras layers models, the reference for
// train/convert_upscaler.py and tests/test_upscaler.py. Needs npm @tensorflow/tfjs 4.11 (the
// packages' peer dependency) on NODE_PATH; run through convert_upscaler.py.
//
//   node upscaler_tfjs.js run MODEL_JSON INPUT_JSON OUTPUT_JSON
//       INPUT_JSON {"shape": [h, w, 3], "data": [...]} on the network's own scale -> the output likewise
//   node upscaler_tfjs.js tiny OUT_DIR
//       a tiny random RDN and RRDN with the packages' layer names (OUT_DIR/{rdn,rrdn}/model.json + weights)
//       and each one's output for a random 6 x 5 input (OUT_DIR/{rdn,rrdn}/reference.json)
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

// The custom layers of the RRDN models, as @upscalerjs/esrgan-thick registers them.
class MultiplyBeta extends tf.layers.Layer {
  constructor(config) { super(config || {}); this.beta = 0.2; }
  call(inputs) { return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, this.beta); }
  getConfig() { return Object.assign(super.getConfig(), {beta: this.beta}); }
  static get className() { return 'MultiplyBeta'; }
}
class PixelShuffle4x extends tf.layers.Layer {
  constructor(config) { super(config || {}); this.scale = 4; }
  computeOutputShape(s) { return [s[0], s[1] === null ? null : s[1] * 4, s[2] === null ? null : s[2] * 4, s[3] / 16]; }
  call(inputs) { return tf.depthToSpace(Array.isArray(inputs) ? inputs[0] : inputs, this.scale, 'NHWC'); }
  getConfig() { return Object.assign(super.getConfig(), {scale: this.scale}); }
  static get className() { return 'PixelShuffle4x'; }
}
tf.serialization.registerClass(MultiplyBeta);
tf.serialization.registerClass(PixelShuffle4x);

function fileHandler(modelJson) {
  const dir = path.dirname(modelJson);
  const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const specs = [], buffers = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return {load: async () => ({modelTopology: json.modelTopology, weightSpecs: specs, weightData,
                              format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy})};
}

async function run(modelJson, input) {
  const model = await tf.loadLayersModel(fileHandler(modelJson));
  const x = tf.tensor(input.data, [1, ...input.shape]);
  const y = model.predict(x);
  return {shape: y.shape.slice(1), data: Array.from(await y.data())};
}

async function save(model, dir) {
  fs.mkdirSync(dir, {recursive: true});
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(artifacts.weightData));
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({
      format: 'layers-model', generatedBy: 'music2img train/upscaler_tfjs.js', convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs}]}));
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
}

function conv(x, filters, k, name) {
  return tf.layers.conv2d({filters, kernelSize: k, padding: 'same', name,
                           kernelInitializer: tf.initializers.randomNormal({stddev: 0.15, seed: name.length}),
                           biasInitializer: tf.initializers.randomNormal({stddev: 0.05})}).apply(x);
}
const relu = (x, name) => tf.layers.activation({activation: 'relu', name}).apply(x);
const add = (xs, name) => tf.layers.add({name}).apply(xs);
const cat = (xs, name) => tf.layers.concatenate({axis: 3, name}).apply(xs);

function dense(x, prefix, C, G) {  // the concatenated features of a dense block
  for (let c = 1; c <= C; c++) x = cat([x, relu(conv(x, G, 3, `F_${prefix}_${c}`), `F_${prefix}_${c}_Relu`)], `RDB_Concat_${prefix}_${c}`);
  return x;
}

function tinyRDN(D = 2, C = 2, G = 4, G0 = 8, scale = 4) {  // idealo ISR's RDN with its layer names
  const input = tf.input({shape: [null, null, 3], name: 'LR'});
  const fm1 = conv(input, G0, 3, 'F_m1');
  let h = conv(fm1, G0, 3, 'F_0');
  const local = [];
  for (let d = 1; d <= D; d++) {
    h = add([conv(dense(h, `${d}`, C, G), G0, 1, `LFF_${d}`), h], `LRL_${d}`);
    local.push(h);
  }
  h = add([conv(conv(cat(local, 'LRLs_Concat'), G0, 1, 'GFF_1'), G0, 3, 'GFF_2'), fm1], 'FDF');
  h = relu(conv(h, 64, 5, 'UPN1'), 'UPN1_Relu');
  h = conv(relu(conv(h, 32, 3, 'UPN2'), 'UPN2_Relu'), 3 * scale * scale, 3, 'UPN3');
  h = tf.layers.upSampling2d({size: [scale, scale], name: 'UPsample'}).apply(h);
  return tf.model({inputs: input, outputs: conv(h, 3, 3, 'SR')});
}

function tinyRRDN(T = 2, D = 2, C = 2, G = 4, G0 = 8) {  // idealo ISR's RRDN with its layer names
  const input = tf.input({shape: [null, null, 3], name: 'LR_input'});
  const pre = conv(input, G0, 3, 'Pre_blocks_conv');
  let h = pre, k = 0;
  const beta = (x) => new MultiplyBeta({name: `multiply_beta_${k++}`}).apply(x);
  for (let t = 1; t <= T; t++) {
    let r = h;
    for (let d = 1; d <= D; d++) r = add([r, beta(conv(dense(r, `${t}_${d}`, C, G), G0, 3, `LFF_${t}_${d}`))], `LRL_${t}_${d}`);
    h = add([h, beta(r)], `RRDB_${t}_out`);
  }
  h = add([conv(h, G0, 3, 'post_blocks_conv'), pre], 'GRL');
  h = new PixelShuffle4x({name: 'pixel_shuffle'}).apply(conv(h, 48, 3, 'PreShuffle'));
  return tf.model({inputs: input, outputs: conv(h, 3, 3, 'SR')});
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'run') {
    const out = await run(args[0], JSON.parse(fs.readFileSync(args[1], 'utf8')));
    fs.writeFileSync(args[2], JSON.stringify(out));
  } else if (cmd === 'tiny') {
    for (const [name, model, range] of [['rdn', tinyRDN(), 255], ['rrdn', tinyRRDN(), 1]]) {
      const dir = path.join(args[0], name);
      await save(model, dir);
      const input = {shape: [6, 5, 3], data: Array.from(tf.randomUniform([6 * 5 * 3], 0, range, 'float32', 7).dataSync())};
      const output = await run(path.join(dir, 'model.json'), input);
      fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify({input, output}));
    }
  } else {
    throw new Error('usage: upscaler_tfjs.js run MODEL_JSON INPUT_JSON OUTPUT_JSON | tiny OUT_DIR');
  }
}
main().catch((err) => { console.error(err); process.exit(1); });
