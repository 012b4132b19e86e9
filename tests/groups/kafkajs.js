// KafkaJS 2.2 (driven by tests/groups/main.rs): two members of one group split a topic's
// partitions and consume every record; committed offsets then add up to the record count.
// Usage: node kafkajs.js BOOTSTRAP TOPIC GROUP COUNT PARTITIONS
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, group, countArg, partitionsArg] = process.argv.slice(2);
const count = Number(countArg);
const partitions = Number(partitionsArg);

function fail(msg) {
  console.log(`FAIL: ${msg}`);
  process.exit(1);
}

async function main() {
  const kafka = new Kafka({ clientId: 'kraftd-kafkajs', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < count; i++) messages.push({ key: String(i), value: String(i) });
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();

  const seen = new Set();
  const owned = [new Set(), new Set()];
  const consumers = [];
  for (let m = 0; m < 2; m++) {
    const c = kafka.consumer({ groupId: group, heartbeatInterval: 500, sessionTimeout: 10000 });
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    c.on(c.events.GROUP_JOIN, (e) => {
      owned[m] = new Set((e.payload.memberAssignment[topic] || []));
    });
    await c.run({
      eachMessage: async ({ message }) => {
        seen.add(message.value.toString());
      },
    });
    consumers.push(c);
  }
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const split = owned[0].size > 0 && owned[1].size > 0 && owned[0].size + owned[1].size === partitions;
    if (seen.size >= count && split) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const c of consumers) await c.disconnect();
  if (seen.size < count) fail(`saw ${seen.size} of ${count}`);
  if (!(owned[0].size > 0 && owned[1].size > 0)) fail(`no split: ${[...owned[0]]} / ${[...owned[1]]}`);
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const total = offsets[0].partitions.reduce((s, p) => s + Math.max(Number(p.offset), 0), 0);
  await admin.disconnect();
  if (total !== count) fail(`committed offsets sum ${total}, expected ${count}`);
  console.log(`ok seen=${seen.size} committed=${total}`);
}

main().catch((e) => fail(e.stack || String(e)));
