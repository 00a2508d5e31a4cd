// What the pages share: who is signed in (GET /me: user and limits) and the model
// catalog (GET /models), each read once per sign-in.
import { api } from "./api.js";

export const state = { me: null };
let models = null;

export function getModels() {
  if (!models) models = api("/models").catch((err) => { models = null; throw err; });
  return models;
}

export function forget() {
  state.me = null;
  models = null;
}
