/**
 * `node --import aioloop/install app.js`: select the native loop for the
 * whole program without changing its code.
 * @module
 */
import { install } from './policies.js';

install();
