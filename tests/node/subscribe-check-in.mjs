// Subscribes to a key result's progress with the graphql-ws client, records a check-in over
// HTTP, and checks that the event arrives. Exits 0 on success and 1 with a reason otherwise.
//
//   HEADWAY_URL=http://127.0.0.1:8080/graphql HEADWAY_TOKEN=... HEADWAY_KEY_RESULT=kr_... \
//     node subscribe-check-in.mjs

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.HEADWAY_URL;
const token = process.env.HEADWAY_TOKEN;
const keyResult = process.env.HEADWAY_KEY_RESULT;
if (!url || !token || !keyResult) {
  console.error('set HEADWAY_URL, HEADWAY_TOKEN and HEADWAY_KEY_RESULT');
  process.exit(2);
}

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

const timeout = setTimeout(() => fail('no event within 10 s'), 10_000);

const client = createClient({
  url: url.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

let connected;
const ready = new Promise((resolve) => (connected = resolve));
client.on('connected', () => connected());

const subscription = client.iterate({
  query: `subscription($scope: EventScopeInput) {
    progress(scope: $scope) { sequence type oldValue newValue newProgress keyResult { id title } }
  }`,
  variables: { scope: { keyResultId: keyResult } },
});

const first = subscription.next();
await ready;
// The connection is acknowledged; give the server a moment to register the subscription.
await new Promise((resolve) => setTimeout(resolve, 300));

const value = String(Math.floor(Math.random() * 1000) + 1);
const response = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify({
    query: 'mutation($input: CreateCheckInInput!) { createCheckIn(input: $input) { userErrors { message } } }',
    variables: { input: { keyResultId: keyResult, value } },
  }),
});
const body = await response.json();
if (body.errors || body.data.createCheckIn.userErrors.length > 0) {
  fail(`the check-in was rejected: ${JSON.stringify(body)}`);
}

const { value: result, done } = await first;
if (done) fail('the subscription ended without an event');
if (result.errors) fail(`the event carried errors: ${JSON.stringify(result.errors)}`);
const event = result.data.progress;
if (event.type !== 'KEY_RESULT_PROGRESS_CHANGED') fail(`unexpected event type ${event.type}`);
if (event.newValue !== value) fail(`expected new value ${value}, got ${event.newValue}`);
if (event.keyResult.id !== keyResult) fail(`the event is about ${event.keyResult.id}`);
if (typeof event.sequence !== 'number') fail('the event has no sequence number');

clearTimeout(timeout);
await subscription.return();
await client.dispose();
console.log(`ok: event ${event.sequence} carried value ${event.newValue}`);
process.exit(0);
