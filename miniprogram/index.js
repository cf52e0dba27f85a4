export { createClient, APIError, call } from './client.js';
export { render, yuan } from './states.js';
export { faceFailMessage, transferFailMessage } from './messages.js';
