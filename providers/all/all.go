// Package all registers every provider adapter and sandbox simulator.
package all
