import { roundTripSuite } from './support/round-trip-suite.js';

roundTripSuite('pg');
